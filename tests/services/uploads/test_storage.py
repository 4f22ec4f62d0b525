"""What a tenant stores: each file's SHA-256 and the duplicates it reveals, the storage quota
(reserved before a byte is stored, so uploads at once cannot pass it together) and the usage
report."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import uuid

import pytest
import urllib3

from libs.store import courses, storage_usage
from tests.conftest import held_material
from tests.services.uploads.conftest import assert_nothing_left, post_form
from tests.services.uploads.test_slots import wait_for

USAGE = "/api/v1/storage/usage"


def text_form(content: bytes, name: str = "notes.md") -> tuple[bytes, str]:
    return urllib3.encode_multipart_formdata({"source_type": "text", "file": (name, content, "text/markdown")})


def upload(client, course: dict, content: bytes, *, query: str = "", gate: threading.Event | None = None):
    return post_form(client, course, *text_form(content), query=query, gate=gate)


def unique(size: int = 1000) -> bytes:
    return (f"# Notes {uuid.uuid4()}\n\n".encode() + b"x" * size)[:size]


def usage(client, course: dict, **params) -> dict:
    result = client.simulate_get(USAGE, headers={"X-API-Key": course["key"]}, params=params)
    assert result.status_code == 200, result.text
    return result.json


def test_a_stored_file_keeps_its_sha256(client, course):
    content = unique()
    material = upload(client, course, content).json
    assert material["sha256"] == hashlib.sha256(content).hexdigest()


def test_the_same_content_twice_in_a_course_is_409_naming_the_first_and_keeps_nothing(client, course, storage, db):
    content = unique()
    first = upload(client, course, content).json
    again = upload(client, course, content)
    assert again.status_code == 409, again.text
    assert again.json["existing_material_id"] == first["id"] and first["id"] in again.json["description"]
    assert "allow_duplicate=true" in again.json["description"]
    # the second file is gone: one row, one object
    assert db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course["id"],)).fetchone() == (1,)
    listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=course["prefix"])
    keys = [item["Key"] for item in listed["Contents"]]
    assert len(keys) == 1 and first["id"] in keys[0]


def test_allow_duplicate_keeps_both(client, course):
    content = unique()
    first = upload(client, course, content).json
    second = upload(client, course, content, query="allow_duplicate=true")
    assert second.status_code == 201, second.text
    assert second.json["sha256"] == first["sha256"] and second.json["id"] != first["id"]


def test_allow_duplicate_takes_true_or_false_only(client, course):
    result = upload(client, course, unique(), query="allow_duplicate=yes")
    assert result.status_code == 422
    assert result.json["errors"] == [{"field": "allow_duplicate", "message": "must be true or false"}]


def test_the_same_content_in_another_course_is_not_a_duplicate(client, course, db, tenant):
    content = unique()
    assert upload(client, course, content).status_code == 201
    other = {**course, "id": str(courses.create(db, tenant.id, {"title": "y"})["id"])}
    assert upload(client, other, content).status_code == 201


def test_two_uploads_of_the_same_content_at_once_keep_one(client, course, db):
    content = unique(200_000)
    gate = threading.Event()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(upload(client, course, content, gate=gate))) for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(30)
    assert sorted(result.status_code for result in results) == [201, 409]
    assert db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course["id"],)).fetchone() == (1,)


def test_an_upload_past_the_quota_is_413_with_what_is_used_and_allowed_and_stores_nothing(
    client, course, tenant, db, storage
):
    storage_usage.set_quota(db, tenant.id, 5000)
    refused = upload(client, course, unique(6000))
    assert refused.status_code == 413, refused.text
    body = refused.json
    assert body["title"] == "Storage quota exceeded"
    assert (body["quota_bytes"], body["used_bytes"], body["reserved_bytes"]) == (5000, 0, 0)
    assert body["requested_bytes"] > 6000  # the request's length: the form around the file too
    assert_nothing_left(storage, db, course)


def test_the_settings_quota_applies_to_a_tenant_without_its_own(make_client, settings, course):
    client = make_client("uploads", settings=dataclasses.replace(settings, storage_quota_bytes=3000))
    assert upload(client, course, unique(4000)).status_code == 413
    assert usage(client, course)["quota_bytes"] == 3000


def test_a_tenants_own_quota_of_0_is_unlimited_whatever_the_setting(make_client, settings, course, tenant, db):
    client = make_client("uploads", settings=dataclasses.replace(settings, storage_quota_bytes=3000))
    storage_usage.set_quota(db, tenant.id, 0)
    assert upload(client, course, unique(4000)).status_code == 201


def test_uploads_at_once_cannot_pass_the_quota_together(client, course, tenant, db):
    storage_usage.set_quota(db, tenant.id, 300_000)
    gate = threading.Event()
    held: list = []
    thread = threading.Thread(target=lambda: held.append(upload(client, course, unique(200_000), gate=gate)))
    thread.start()
    try:
        wait_for(lambda: usage(client, course)["reserved_bytes"] > 200_000)
        second = upload(client, course, unique(200_000))
        assert second.status_code == 413
        assert second.json["reserved_bytes"] > 200_000
    finally:
        gate.set()
        thread.join(30)
    assert held[0].status_code == 201
    after = usage(client, course)
    assert (after["used_bytes"], after["reserved_bytes"], after["available_bytes"]) == (200_000, 0, 100_000)


def test_a_refused_upload_gives_its_reservation_back(client, course, tenant, db):
    storage_usage.set_quota(db, tenant.id, 10_000)
    body, content_type = urllib3.encode_multipart_formdata({"source_type": "text", "file": ("a.exe", b"MZ" * 100)})
    result = client.simulate_post(
        f"/api/v1/courses/{course['id']}/materials",
        body=body,
        headers={"X-API-Key": course["key"], "Content-Type": content_type},
    )
    assert result.status_code == 422
    assert usage(client, course)["reserved_bytes"] == 0


def test_usage_counts_bytes_objects_and_materials_by_status_per_course(client, course, db, tenant):
    assert upload(client, course, unique(1000)).status_code == 201
    assert upload(client, course, unique(3000)).status_code == 201
    held_material(db, tenant.id, course["id"], status="error")  # a web page: a material, no object
    empty = str(courses.create(db, tenant.id, {"title": "Empty"})["id"])
    report = usage(client, course)
    assert (report["used_bytes"], report["objects"], report["quota_bytes"], report["available_bytes"]) == (
        4000,
        2,
        0,
        None,
    )
    # the files' own statuses move as the stack's worker ingests them
    assert sum(report["materials_by_status"].values()) == 3 and report["materials_by_status"]["error"] == 1
    by_course = {item["id"]: item for item in report["courses"]["items"]}
    assert (by_course[course["id"]]["bytes"], by_course[course["id"]]["objects"]) == (4000, 2)
    assert by_course[course["id"]]["materials"] == 3
    assert (by_course[empty]["bytes"], by_course[empty]["materials"]) == (0, 0)


def test_usage_pages_through_the_courses(client, course, db, tenant):
    for n in range(2):
        courses.create(db, tenant.id, {"title": f"More {n}"})
    first = usage(client, course, limit=2)["courses"]
    assert (len(first["items"]), first["total"]) == (2, 3)
    rest = usage(client, course, limit=2, cursor=first["next_cursor"])["courses"]
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {item["id"] for item in first["items"] + rest["items"]} >= {course["id"]}


def test_usage_is_the_tenants_own(client, course, other_tenant):
    assert upload(client, course, unique(1000)).status_code == 201
    visitor = {"key": other_tenant.make_key().secret}
    report = usage(client, visitor)
    assert (report["used_bytes"], report["objects"], report["courses"]["items"]) == (0, 0, [])


@pytest.mark.parametrize("scopes", [("check",)])
def test_usage_needs_the_prep_scope(client, tenant, scopes):
    result = client.simulate_get(USAGE, headers={"X-API-Key": tenant.make_key(scopes).secret})
    assert result.status_code == 403
