"""The per-tenant cap on concurrent uploads: the extra upload is 429 while others of the tenant
run, other tenants are not affected, and the slots come back when the uploads end."""

import dataclasses
import threading
import time
import uuid

import pytest
import urllib3

from tests.services.uploads.conftest import post_form

CAP = 2


@pytest.fixture
def capped(make_client, settings):
    return make_client("uploads", settings=dataclasses.replace(settings, max_concurrent_uploads_per_tenant=CAP))


def new_course(db, tenant) -> dict:
    tenant_id = tenant.id
    course_id = db.execute(
        "INSERT INTO courses (tenant_id, title) VALUES (%s, 'x') RETURNING id", (tenant_id,)
    ).fetchone()[0]
    return {"key": tenant.make_key().secret, "id": str(course_id), "tenant_id": str(tenant_id)}


def form() -> tuple[bytes, str]:
    """A small video form, its content new each time (the same twice in a course would be a 409)."""
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(256 * 1024) + uuid.uuid4().bytes
    return urllib3.encode_multipart_formdata({"source_type": "video", "file": ("clip.mp4", clip, "video/mp4")})


def upload(client, course, body=None, gate=None):
    return post_form(client, course, *form(), gate=gate)


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_upload_over_the_cap_is_429_and_other_tenants_go_on(capped, db, redis_client, tenant, other_tenant):
    course, elsewhere = new_course(db, tenant), new_course(db, other_tenant)
    gate = threading.Event()
    results = []
    held = [threading.Thread(target=lambda: results.append(upload(capped, course, gate=gate))) for _ in range(CAP)]
    for thread in held:
        thread.start()
    try:
        wait_for(lambda: redis_client.zcard(f"uploads:{course['tenant_id']}") == CAP)
        refused = upload(capped, course)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json["title"] == "Too many uploads"
        assert f"{CAP} uploads at once" in refused.json["description"]
        assert upload(capped, elsewhere).status_code == 201
    finally:
        gate.set()
        for thread in held:
            thread.join(30)
    assert [result.status_code for result in results] == [201] * CAP
    assert redis_client.zcard(f"uploads:{course['tenant_id']}") == 0
    assert upload(capped, course).status_code == 201
    count = db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course["id"],)).fetchone()[0]
    assert count == CAP + 1


def test_a_refused_or_failed_upload_frees_its_slot(capped, db, redis_client, tenant):
    course = new_course(db, tenant)
    bad = capped.simulate_post(
        f"/api/v1/courses/{course['id']}/materials",
        body=b'--x\r\nContent-Disposition: form-data; name="colour"\r\n\r\nred\r\n--x--\r\n',
        headers={"X-API-Key": course["key"], "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert bad.status_code == 422
    assert redis_client.zcard(f"uploads:{course['tenant_id']}") == 0
