"""Direct uploads against SeaweedFS with signature checks: the client PUTs to presigned URLs
(one for a small file, one per part for a larger one), then completes; what is not as declared
is refused, by S3 at the PUT or by the service at completion, and leaves nothing behind."""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import urllib.parse
import uuid

import pytest
import requests

from libs.store import storage_usage
from libs.webhooks import endpoints
from services.courses.removal import remove_course
from services.uploads import direct_upload
from services.uploads.upload_janitor import UploadJanitor
from tests.services.uploads.conftest import assert_nothing_left

MIB = 1024 * 1024


def text(size: int) -> bytes:
    return (f"# Notes {uuid.uuid4()}\n\n".encode() + b"x" * size)[:size]


def start(client, course: dict, *, key: str | None = None, query: str = "", **body):
    fields = {"filename": "notes.md", "source_type": "text", **body}
    return client.simulate_post(
        f"/api/v1/courses/{course['id']}/materials/uploads",
        json=fields,
        query_string=query,
        headers={"X-API-Key": key or course["key"]},
    )


def complete(client, course: dict, upload: dict, parts: list[dict] | None = None, key: str | None = None):
    return client.simulate_post(
        upload["complete_url"],
        json={"parts": parts} if parts is not None else None,
        headers={"X-API-Key": key or course["key"]},
    )


def put(url: str, data: bytes) -> requests.Response:
    return requests.put(url, data=data, timeout=30)


def send_parts(upload: dict, data: bytes) -> list[dict]:
    sent = []
    for part in upload["parts"]:
        offset = (part["part_number"] - 1) * upload["part_size"]
        answer = put(part["url"], data[offset : offset + part["size"]])
        assert answer.status_code == 200, answer.text
        sent.append({"part_number": part["part_number"], "etag": answer.headers["ETag"]})
    return sent


def open_uploads(storage, course: dict) -> list[dict]:
    return storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=course["prefix"]).get("Uploads", [])


def reserved(db, tenant) -> int:
    return storage_usage.used(db, tenant.id)[1]


@pytest.fixture
def small_parts(monkeypatch):
    """Files over 1 MiB go in parts (of 8 MiB, S3's floor being 5), so tests need not move 64 MiB."""
    monkeypatch.setattr(direct_upload, "SINGLE_PUT_MAX", MIB)


def test_a_small_file_goes_in_one_put_and_becomes_a_pending_material(client, course, db, tenant, storage):
    data = text(5000)
    started = start(client, course, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert started.status_code == 201, started.text
    upload = started.json
    assert (upload["method"], upload["headers"]) == ("PUT", {"Content-Length": "5000"})
    assert reserved(db, tenant) == 0  # an unlimited tenant keeps no count
    assert put(upload["url"], data).status_code == 200
    done = complete(client, course, upload)
    assert done.status_code == 201, done.text
    material = done.json
    assert (material["id"], material["status"], material["size_bytes"]) == (upload["material_id"], "pending", 5000)
    assert (material["sha256"], material["content_type"]) == (
        hashlib.sha256(data).hexdigest(),
        "text/markdown; charset=utf-8",
    )
    assert material["job_id"]
    key = db.execute("SELECT s3_key FROM source_materials WHERE id = %s", (material["id"],)).fetchone()[0]
    assert storage.client.get_object(Bucket=storage.bucket, Key=key)["Body"].read() == data
    assert db.execute("SELECT count(*) FROM material_uploads WHERE course_id = %s", (course["id"],)).fetchone() == (0,)


def test_a_larger_file_goes_in_parts_and_completes_with_their_etags(client, course, small_parts, storage, db):
    data = text(10 * MIB)
    upload = start(client, course, size=len(data)).json
    assert (upload["method"], upload["part_size"], upload["part_count"]) == ("multipart", 8 * MIB, 2)
    assert [part["size"] for part in upload["parts"]] == [8 * MIB, 2 * MIB] and upload["next_part"] is None
    parts = send_parts(upload, data)
    done = complete(client, course, upload, parts)
    assert done.status_code == 201, done.text
    assert done.json["sha256"] == hashlib.sha256(data).hexdigest()
    assert open_uploads(storage, course) == []


def test_more_part_urls_come_on_request(client, course, small_parts):
    upload = start(client, course, size=20 * MIB).json
    assert len(upload["parts"]) == 3
    more = client.simulate_get(
        upload["parts_url"], params={"first": 2, "count": 1}, headers={"X-API-Key": course["key"]}
    ).json
    assert [(part["part_number"], part["size"]) for part in more["parts"]] == [(2, 8 * MIB)]
    assert more["next_part"] == 3


def test_a_put_of_another_length_than_declared_is_refused_by_s3(client, course):
    upload = start(client, course, size=5000).json
    answer = put(upload["url"], text(6000))
    assert answer.status_code == 403, answer.text


def test_a_forged_or_redirected_url_is_refused_by_s3(client, course, tenant):
    upload = start(client, course, size=5000).json
    url = urllib.parse.urlsplit(upload["url"])
    signature = urllib.parse.parse_qs(url.query)["X-Amz-Signature"][0]
    forged = upload["url"].replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert put(forged, text(5000)).status_code == 403
    # the same signature for another key, even the tenant's own: the key is signed
    elsewhere = upload["url"].replace(f"/{upload['material_id']}/", f"/{uuid.uuid4()}/")
    assert put(elsewhere, text(5000)).status_code == 403


def test_an_expired_url_is_refused_by_s3(client, course, db):
    upload = start(client, course, size=5000).json
    db.execute("UPDATE material_uploads SET expires_at = now() + interval '1 second' WHERE id = %s", (upload["id"],))
    fresh = client.simulate_get(upload["complete_url"].removesuffix("/complete"), headers={"X-API-Key": course["key"]})
    assert "X-Amz-Expires=1&" in fresh.json["url"]  # signed to expire with the upload
    time.sleep(1.3)
    assert put(fresh.json["url"], text(5000)).status_code == 403


def test_a_filename_cannot_lead_the_key_out_of_the_course(client, course, db):
    upload = start(client, course, size=5000, filename="../../../other-tenant/notes.md").json
    key = db.execute("SELECT s3_key FROM material_uploads WHERE id = %s", (upload["id"],)).fetchone()[0]
    assert key == f"{course['prefix']}{upload['material_id']}/notes.md"


def test_completing_before_the_put_is_409_and_keeps_the_upload(client, course):
    data = text(5000)
    upload = start(client, course, size=len(data)).json
    early = complete(client, course, upload)
    assert early.status_code == 409 and "PUT the file first" in early.json["description"]
    assert put(upload["url"], data).status_code == 200
    assert complete(client, course, upload).status_code == 201


def test_a_wrong_checksum_is_422_and_leaves_nothing(client, course, storage, db, tenant):
    data = text(5000)
    upload = start(client, course, size=len(data), sha256="ab" * 32).json
    assert put(upload["url"], data).status_code == 200
    refused = complete(client, course, upload)
    assert refused.status_code == 422
    assert refused.json["errors"][0]["field"] == "sha256"
    assert_nothing_left(storage, db, course)
    assert db.execute("SELECT count(*) FROM material_uploads WHERE id = %s", (upload["id"],)).fetchone() == (0,)
    assert reserved(db, tenant) == 0


def test_a_file_that_is_not_its_type_is_422_and_leaves_nothing(client, course, storage, db):
    upload = start(client, course, size=5000, filename="slides.pdf", source_type="presentation").json
    assert put(upload["url"], text(5000)).status_code == 200
    refused = complete(client, course, upload)
    assert refused.status_code == 422 and "PDF" in refused.json["description"]
    assert_nothing_left(storage, db, course)


def test_parts_missing_or_with_a_wrong_etag_are_422_and_leave_nothing(client, course, small_parts, storage, db):
    data = text(10 * MIB)
    upload = start(client, course, size=len(data)).json
    parts = send_parts(upload, data)
    assert complete(client, course, upload, parts[:1]).status_code == 422
    assert_nothing_left(storage, db, course)
    upload = start(client, course, size=len(data)).json
    parts = send_parts(upload, data)
    parts[1]["etag"] = '"0123456789abcdef0123456789abcdef"'
    refused = complete(client, course, upload, parts)
    assert refused.status_code == 422, refused.text
    assert_nothing_left(storage, db, course)


def test_abort_removes_the_parts_and_gives_the_bytes_back(client, course, small_parts, storage, db, tenant):
    storage_usage.set_quota(db, tenant.id, 100 * MIB)
    data = text(10 * MIB)
    upload = start(client, course, size=len(data)).json
    assert reserved(db, tenant) == 10 * MIB
    put(upload["parts"][0]["url"], data[: 8 * MIB])
    path = upload["complete_url"].removesuffix("/complete")
    assert client.simulate_delete(path, headers={"X-API-Key": course["key"]}).status_code == 204
    assert open_uploads(storage, course) == [] and reserved(db, tenant) == 0
    assert client.simulate_get(path, headers={"X-API-Key": course["key"]}).status_code == 404
    assert put(upload["parts"][1]["url"], data[8 * MIB :]).status_code == 404  # NoSuchUpload


def test_the_janitor_ends_an_upload_whose_urls_expired(client, course, small_parts, storage, db, pool, tenant):
    storage_usage.set_quota(db, tenant.id, 100 * MIB)
    data = text(10 * MIB)
    upload = start(client, course, size=len(data)).json
    put(upload["parts"][0]["url"], data[: 8 * MIB])
    janitor = UploadJanitor(
        storage,
        prefix=course["prefix"],
        stale_after=3600,
        pool=pool,
        end_upload=direct_upload.DirectUploads(pool, storage, max_upload_bytes=MIB * 100, default_quota=0).end,
    )
    assert janitor.end_expired_uploads() == 0  # not expired yet
    db.execute("UPDATE material_uploads SET expires_at = now() - interval '1 hour' WHERE id = %s", (upload["id"],))
    assert janitor.end_expired_uploads() == 1
    assert open_uploads(storage, course) == [] and reserved(db, tenant) == 0
    assert db.execute("SELECT count(*) FROM material_uploads WHERE id = %s", (upload["id"],)).fetchone() == (0,)


def test_a_size_past_the_quota_is_413_before_any_url_is_made(client, course, db, tenant, storage):
    storage_usage.set_quota(db, tenant.id, 10_000)
    assert start(client, course, size=6000).status_code == 201
    refused = start(client, course, size=6000)
    assert refused.status_code == 413
    assert (refused.json["reserved_bytes"], refused.json["requested_bytes"]) == (6000, 6000)


def test_a_size_past_the_upload_limit_is_413(client, course, settings):
    refused = start(client, course, size=settings.max_upload_bytes + 1)
    assert refused.status_code == 413 and str(settings.max_upload_bytes) in refused.json["description"]


def test_a_declared_duplicate_is_409_before_a_byte_is_sent(client, course):
    data = text(5000)
    first = start(client, course, size=len(data)).json
    put(first["url"], data)
    material = complete(client, course, first).json
    again = start(client, course, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert again.status_code == 409 and again.json["existing_material_id"] == material["id"]
    allowed = start(client, course, size=len(data), sha256=material["sha256"], query="allow_duplicate=true")
    assert allowed.status_code == 201


def test_an_undeclared_duplicate_is_409_at_completion_and_leaves_only_the_first(client, course, storage, db):
    data = text(5000)
    first = start(client, course, size=len(data)).json
    put(first["url"], data)
    material = complete(client, course, first).json
    second = start(client, course, size=len(data)).json
    put(second["url"], data)
    refused = complete(client, course, second)
    assert refused.status_code == 409 and refused.json["existing_material_id"] == material["id"]
    listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=course["prefix"])["Contents"]
    assert [item["Key"].split("/")[-2] for item in listed] == [material["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size": 0}, "size"),
        ({"size": 10, "source_type": "web"}, "source_type"),
        ({"size": 10, "sha256": "xyz"}, "sha256"),
        ({"size": 10, "filename": "notes.exe"}, "filename"),
        ({"size": 10, "filename": "a\x07.md"}, "filename"),
    ],
)
def test_a_bad_request_is_422_naming_the_field(client, course, body, field):
    refused = start(client, course, **body)
    assert refused.status_code == 422, refused.text
    assert refused.json["errors"][0]["field"] == field


def test_another_tenants_upload_is_404_on_every_route(client, course, other_tenant, small_parts):
    upload = start(client, course, size=2 * MIB).json
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    path = upload["complete_url"].removesuffix("/complete")
    assert client.simulate_get(path, headers=intruder).status_code == 404
    assert client.simulate_get(path + "/parts", headers=intruder).status_code == 404
    assert client.simulate_delete(path, headers=intruder).status_code == 404
    assert client.simulate_post(path + "/complete", headers=intruder).status_code == 404
    assert client.simulate_get(path, headers={"X-API-Key": course["key"]}).status_code == 200


def test_deleting_the_course_ends_its_uploads(client, course, db, tenant, pool, storage):
    storage_usage.set_quota(db, tenant.id, 100_000)
    upload = start(client, course, size=5000).json
    put(upload["url"], text(5000))
    remove_course(pool, storage, tenant.id, course["id"])
    assert reserved(db, tenant) == 0
    key, due = db.execute(
        "SELECT key, next_attempt_at FROM object_deletions WHERE key LIKE %s", (course["prefix"] + "%",)
    ).fetchone()
    assert upload["material_id"] in key
    assert due >= datetime.datetime.fromisoformat(upload["expires_at"])  # not before a client could PUT again


def test_a_completed_upload_is_an_upload_completed_event(client, course, db, tenant):
    webhook = endpoints.create(
        db, tenant.id, {"url": "https://hooks.customer-one.com/in", "event_types": ["upload.completed"]}
    )
    data = text(5000)
    upload = start(client, course, size=len(data)).json
    assert put(upload["url"], data).status_code == 200
    material = complete(client, course, upload).json
    [(body,)] = db.execute(
        "SELECT ev.body FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id"
        " WHERE d.endpoint_id = %s",
        (webhook["id"],),
    ).fetchall()
    event = json.loads(body)
    assert event["type"] == "upload.completed"
    assert event["data"] == {
        "upload_id": upload["id"],
        "material_id": material["id"],
        "course_id": course["id"],
        "summary": {"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    }
    db.execute("DELETE FROM webhook_endpoints WHERE id = %s", (webhook["id"],))
