"""Idempotency-Key on POST: a retry with the same key and request gets the first answer back
and nothing is done twice; another request under the key is 422; one still running is 409."""

from __future__ import annotations

import uuid

import pytest
import urllib3

COURSES = "/api/v1/courses"


@pytest.fixture
def courses_app(make_client):
    return make_client("courses")


def post_course(client, key: str, idem: str, title: str = "Once"):
    return client.simulate_post(COURSES, json={"title": title}, headers={"X-API-Key": key, "Idempotency-Key": idem})


def count_courses(db, tenant, title: str) -> int:
    return db.execute(
        "SELECT count(*) FROM courses WHERE tenant_id = %s AND title = %s", (tenant.id, title)
    ).fetchone()[0]


def test_a_post_repeated_with_one_key_creates_once_and_answers_the_same(courses_app, tenant, db):
    key, idem = tenant.make_key().secret, str(uuid.uuid4())
    first = post_course(courses_app, key, idem)
    again = post_course(courses_app, key, idem)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count_courses(db, tenant, "Once") == 1


def test_the_same_key_with_another_body_is_422_and_does_nothing(courses_app, tenant, db):
    key, idem = tenant.make_key().secret, str(uuid.uuid4())
    assert post_course(courses_app, key, idem, "First").status_code == 201
    other = post_course(courses_app, key, idem, "Second")
    assert other.status_code == 422 and other.json["errors"][0]["field"] == "Idempotency-Key"
    assert count_courses(db, tenant, "Second") == 0


def test_a_retry_while_the_first_still_runs_is_409(courses_app, tenant, db):
    key, idem = tenant.make_key().secret, str(uuid.uuid4())
    first = post_course(courses_app, key, idem)  # then put it back to "running"
    db.execute(
        "UPDATE idempotency_keys SET status = NULL, claimed_until = now() + interval '1 minute'"
        " WHERE tenant_id = %s AND key = %s",
        (tenant.id, idem),
    )
    assert first.status_code == 201
    running = post_course(courses_app, key, idem)
    assert running.status_code == 409 and "still being handled" in running.json["description"]


def test_a_claim_whose_request_died_lapses_and_the_retry_runs(courses_app, tenant, db):
    key, idem = tenant.make_key().secret, str(uuid.uuid4())
    assert post_course(courses_app, key, idem, "Lapsed").status_code == 201
    # as if that request had died before answering: claimed, no answer, the claim run out
    db.execute(
        "UPDATE idempotency_keys SET status = NULL, body = NULL, claimed_until = now() - interval '1 second'"
        " WHERE tenant_id = %s AND key = %s",
        (tenant.id, idem),
    )
    retried = post_course(courses_app, key, idem, "Lapsed")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert post_course(courses_app, key, idem, "Lapsed").headers["Idempotent-Replayed"] == "true"


def test_a_failed_request_frees_its_key(courses_app, tenant, db):
    key, idem = tenant.make_key().secret, str(uuid.uuid4())
    refused = courses_app.simulate_post(
        COURSES, json={"title": ""}, headers={"X-API-Key": key, "Idempotency-Key": idem}
    )
    assert refused.status_code == 422
    assert post_course(courses_app, key, idem, "After a refusal").status_code == 201


def test_keys_are_each_tenants_own(courses_app, tenant, other_tenant, db):
    idem = str(uuid.uuid4())
    assert post_course(courses_app, tenant.make_key().secret, idem, "Shared key").status_code == 201
    theirs = post_course(courses_app, other_tenant.make_key().secret, idem, "Shared key")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert count_courses(db, other_tenant, "Shared key") == 1


@pytest.mark.parametrize("idem", ["x" * 256, "naïve", "tab\there"])
def test_a_key_that_is_not_short_printable_ascii_is_422(courses_app, tenant, idem):
    answer = courses_app.simulate_post(
        COURSES, json={"title": "x"}, headers={"X-API-Key": tenant.make_key().secret, "Idempotency-Key": idem}
    )
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "Idempotency-Key"


def test_a_streamed_upload_is_replayed_without_reading_its_body(make_client, tenant, db):
    uploads = make_client("uploads")
    course = db.execute(
        "INSERT INTO courses (tenant_id, title) VALUES (%s, 'x') RETURNING id", (tenant.id,)
    ).fetchone()[0]
    key, idem = tenant.make_key().secret, str(uuid.uuid4())
    body, content_type = urllib3.encode_multipart_formdata(
        {"source_type": "text", "file": ("notes.md", f"# Notes {uuid.uuid4()}\n".encode(), "text/markdown")}
    )
    headers = {"X-API-Key": key, "Idempotency-Key": idem, "Content-Type": content_type}
    path = f"/api/v1/courses/{course}/materials"
    first = uploads.simulate_post(path, body=body, headers=headers)
    assert first.status_code == 201, first.text
    # the same length of anything: the answer comes before the body would be read
    again = uploads.simulate_post(path, body=b"\x00" * len(body), headers=headers)
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course,)).fetchone() == (1,)


def test_a_post_without_the_header_is_untouched(courses_app, tenant, db):
    key = tenant.make_key().secret
    for _ in range(2):
        assert (
            courses_app.simulate_post(COURSES, json={"title": "Twice"}, headers={"X-API-Key": key}).status_code == 201
        )
    assert count_courses(db, tenant, "Twice") == 2
    assert db.execute("SELECT count(*) FROM idempotency_keys WHERE tenant_id = %s", (tenant.id,)).fetchone() == (0,)
