"""Failures inside the service — S3 refusing a part, the database refusing the row — leave
no row, object, job or open multipart upload behind."""

import urllib3
from botocore.exceptions import EndpointConnectionError

from libs import materials
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

    monkeypatch.setattr(materials, "create_with_job", failing_insert)
    result = upload(client, course, 3 * 1024 * 1024)
    assert result.status_code == 500
    assert_nothing_left(storage, db, course)


def test_course_deleted_while_uploading_leaves_nothing(client, course, storage, db, monkeypatch):
    real_create = materials.create_with_job

    def delete_course_first(conn, tenant_id, **kwargs):
        db.execute("DELETE FROM courses WHERE id = %s", (course["id"],))
        return real_create(conn, tenant_id, **kwargs)

    monkeypatch.setattr(materials, "create_with_job", delete_course_first)
    assert upload(client, course, 1024 * 1024).status_code == 404
    assert_nothing_left(storage, db, course)
