"""Failures inside the service — S3 refusing a part or stopping, the database refusing the
row, a client too slow — leave no row, object, job or open multipart upload behind; the
janitor's sweep aborts what a dead process left open."""

import datetime
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import urllib3
from botocore.exceptions import EndpointConnectionError

from devstack.processes import wait_until
from services.uploads import form as material_form
from services.uploads import intake
from services.uploads.upload_janitor import UploadJanitor
from tests.services.uploads.conftest import assert_nothing_left


def upload(client, course, size: int):
    content = b"\x00\x00\x00\x18ftypmp42" + bytes(size - 12)
    body, content_type = urllib3.encode_multipart_formdata(
        {"source_type": "video", "file": ("clip.mp4", content, "video/mp4")}
    )
    return client.simulate_post(
        f"/api/v1/courses/{course['id']}/materials",
        body=body,
        headers={"X-API-Key": course["key"], "Content-Type": content_type},
    )


def test_s3_refusing_a_part_aborts_the_upload(client, course, storage, db, monkeypatch):
    real_upload_part = storage.client.upload_part

    def flaky_upload_part(**kwargs):
        if kwargs["PartNumber"] == 2:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        return real_upload_part(**kwargs)

    monkeypatch.setattr(storage.client, "upload_part", flaky_upload_part)
    result = upload(client, course, 20 * 1024 * 1024)
    assert result.status_code == 503
    assert result.json["title"] == "Service unavailable" and "s3.invalid" not in result.text
    assert_nothing_left(storage, db, course)


def test_database_refusing_the_row_deletes_the_stored_object(client, course, storage, db, monkeypatch):
    def failing_insert(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(intake, "create_with_job", failing_insert)
    result = upload(client, course, 3 * 1024 * 1024)
    assert result.status_code == 500
    assert_nothing_left(storage, db, course)


def test_course_deleted_while_uploading_leaves_nothing(client, course, storage, db, monkeypatch):
    real_create = intake.create_with_job

    def delete_course_first(conn, tenant_id, **kwargs):
        db.execute("DELETE FROM courses WHERE id = %s", (course["id"],))
        return real_create(conn, tenant_id, **kwargs)

    monkeypatch.setattr(intake, "create_with_job", delete_course_first)
    assert upload(client, course, 1024 * 1024).status_code == 404
    assert_nothing_left(storage, db, course)


def test_an_upload_finishing_while_its_course_is_being_deleted_is_404_and_leaves_nothing(
    client, course, storage, settings, db
):
    """The course's delete has begun (its row locked and deleted, not yet committed) when the
    upload's row goes in: the insert waits for the delete, then finds the course gone."""
    with psycopg.connect(settings.postgres_conninfo) as deleting:
        deleting.execute("DELETE FROM courses WHERE id = %s", (course["id"],))
        with ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(upload, client, course, 1024 * 1024)
            wait_until(lambda: _waits_for_a_lock(db), timeout=10, what="the upload's insert to wait for the delete")
            deleting.commit()
            result = answer.result(timeout=30)
    assert result.status_code == 404, result.text
    assert result.json["title"] == "Not found"
    assert_nothing_left(storage, db, course)


def _waits_for_a_lock(db) -> bool:
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO source_materials%%'"
    )
    return db.execute(query).fetchone()[0] > 0


def _open_uploads(storage, prefix: str) -> list[str]:
    listed = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Uploads", [])]


def _answers(storage) -> bool:
    try:
        storage.check()
    except Exception:
        return False
    return True


def test_an_upload_cut_by_s3_stopping_is_aborted_once_s3_returns(
    stack, faults, client, course, storage, db, monkeypatch
):
    real_upload_part = storage.client.upload_part

    def stop_s3_at_the_second_part(**kwargs):
        if kwargs["PartNumber"] == 2:
            stack.stop_s3()  # the first part is in S3; neither this one nor the abort gets there
        return real_upload_part(**kwargs)

    monkeypatch.setattr(storage.client, "upload_part", stop_s3_at_the_second_part)
    try:
        result = upload(client, course, 20 * 1024 * 1024)
    finally:
        stack.start_s3()
    assert result.status_code == 503, result.text
    wait_until(lambda: _answers(storage), timeout=30, what="S3 to answer again")
    returned = time.monotonic()
    wait_until(lambda: not _open_uploads(storage, course["prefix"]), timeout=10, what="the upload aborted")
    assert time.monotonic() - returned < 5
    assert_nothing_left(storage, db, course)
    wait_until(lambda: stack.health()[0] == 200, timeout=60, what="GET /health to answer 200")


def test_the_sweep_aborts_a_stale_upload_and_leaves_a_fresh_one(course, storage):
    janitor = UploadJanitor(storage, prefix=course["prefix"], stale_after=2.0)

    def start(name: str) -> str:
        key = f"{course['prefix']}{name}/file.bin"
        storage.client.create_multipart_upload(Bucket=storage.bucket, Key=key)
        return key

    start("stale")
    assert janitor.sweep() == 0  # younger than stale_after: it may still be streaming
    time.sleep(3.5)
    fresh = start("fresh")
    assert janitor.sweep() == 1
    assert _open_uploads(storage, course["prefix"]) == [fresh]
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=10)
    assert janitor.sweep(now=later) == 1
    assert _open_uploads(storage, course["prefix"]) == []


def test_an_upload_slower_than_the_slowest_allowed_is_408(client, course, storage, db, monkeypatch):
    monkeypatch.setattr(material_form, "longest_upload_seconds", lambda max_upload_bytes: 0.0)
    result = upload(client, course, 3 * 1024 * 1024)
    assert result.status_code == 408, result.text
    assert result.json["title"] == "Request timeout" and "KiB/s" in result.json["description"]
    assert_nothing_left(storage, db, course)


def _objects(storage, course) -> list[str]:
    listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=course["prefix"])
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_commit_left_unanswered_keeps_the_file_of_a_material_it_recorded(client, course, storage, db, monkeypatch):
    real = intake.create_with_job

    def recorded_then_cut(conn, *args, **kwargs):
        real(conn, *args, **kwargs)  # committed: a frozen server woke and carried it out
        raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")

    monkeypatch.setattr(intake, "create_with_job", recorded_then_cut)
    assert upload(client, course, 3 * 1024 * 1024).status_code == 503
    [material] = db.execute("SELECT id, s3_key FROM source_materials WHERE course_id = %s", (course["id"],)).fetchall()
    time.sleep(1.5)  # the janitor has asked the database by now
    assert _objects(storage, course) == [material[1]]


def test_a_commit_left_unanswered_deletes_the_file_once_the_database_says_nothing_was_recorded(
    client, course, storage, db, monkeypatch
):
    def cut(*args, **kwargs):
        raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")

    monkeypatch.setattr(intake, "create_with_job", cut)
    assert upload(client, course, 3 * 1024 * 1024).status_code == 503
    wait_until(lambda: _objects(storage, course) == [], timeout=10, what="the unrecorded file deleted")
    assert_nothing_left(storage, db, course)
