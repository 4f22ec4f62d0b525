"""What the uploads tests share: a course of a fresh tenant, and the check that a refused or
failed upload left nothing anywhere."""

import pytest

from libs.store import courses, material_objects


@pytest.fixture
def course(tenant, db) -> dict:
    """A course with a key for it and the S3 prefix its materials go under."""
    course_id = str(courses.create(db, tenant.id, {"title": "x"})["id"])
    return {
        "key": tenant.make_key().secret,
        "id": course_id,
        "prefix": material_objects.course_prefix(tenant.id, course_id),
    }


def assert_nothing_left(storage, db, course: dict) -> None:
    """No object, open multipart upload, material row or job of the course."""
    assert storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=course["prefix"]).get("KeyCount", 0) == 0
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=course["prefix"])
    assert uploads.get("Uploads", []) == []
    assert db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course["id"],)).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM jobs WHERE course_id = %s", (course["id"],)).fetchone() == (0,)
