"""What the uploads tests share: a course of a fresh tenant, a form POSTed to it (its body
held half way if a test asks), and the check that a refused or failed upload left nothing
anywhere."""

import io
import threading

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


class HeldBody(io.RawIOBase):
    """A request body that stops after ``hold_at`` bytes until ``gate`` opens: a client
    sending slowly."""

    def __init__(self, body: bytes, hold_at: int, gate: threading.Event) -> None:
        self._body, self._hold_at, self._gate, self._pos = body, hold_at, gate, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._pos >= self._hold_at:
            self._gate.wait(30)
        end = len(self._body) if size is None or size < 0 else self._pos + size
        if self._pos < self._hold_at:
            end = min(end, self._hold_at)
        chunk = self._body[self._pos : end]
        self._pos += len(chunk)
        return chunk


def post_form(client, course: dict, body: bytes, content_type: str, *, query: str = "", gate=None):
    """POST a multipart form to the course's materials; with ``gate``, the body stops half way
    until the gate opens (a client sending slowly)."""
    extras = {}
    if gate is not None:
        extras = {"wsgi.input": HeldBody(body, len(body) // 2, gate), "CONTENT_LENGTH": str(len(body))}
    return client.simulate_post(
        f"/api/v1/courses/{course['id']}/materials",
        body=None if gate is not None else body,
        query_string=query,
        headers={"X-API-Key": course["key"], "Content-Type": content_type},
        extras=extras,
    )
