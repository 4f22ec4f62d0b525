import uuid

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from devstack.processes import wait_until
from devstack.seed import seed_structure
from libs.store import material_objects


def test_create_course_answers_201_with_the_course(client, prep):
    result = client.simulate_post(
        "/api/v1/courses",
        headers=prep,
        json={"title": "Python", "description": "Basics", "learning_goal": "Write code"},
    )
    assert result.status_code == 201
    body = result.json
    assert (body["title"], body["description"], body["learning_goal"]) == ("Python", "Basics", "Write code")
    assert result.headers["location"] == f"/api/v1/courses/{body['id']}"
    uuid.UUID(body["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "a\u0000b"}, "title"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": "ok", "description": ["list"]}, "description"),
        ([], "body"),
    ],
)
def test_bad_course_bodies_answer_422_naming_the_field(client, prep, body, field):
    result = client.simulate_post("/api/v1/courses", headers=prep, json=body)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == field


def test_body_that_is_not_json_is_400(client, prep):
    result = client.simulate_post(
        "/api/v1/courses", headers={**prep, "Content-Type": "application/json"}, body="{not json"
    )
    assert result.status_code == 400


def test_check_key_cannot_create_courses(client, tenant):
    result = client.simulate_post(
        "/api/v1/courses", json={"title": "x"}, headers={"X-API-Key": tenant.make_key(("check",)).secret}
    )
    assert result.status_code == 403


def test_patch_updates_only_given_fields(client, prep, course):
    result = client.simulate_patch(
        f"/api/v1/courses/{course['id']}", headers=prep, json={"description": "New", "learning_goal": None}
    )
    assert result.status_code == 200
    assert result.json["title"] == "Python 101"
    assert result.json["description"] == "New" and result.json["learning_goal"] is None


def test_patch_with_nothing_to_change_is_422(client, prep, course):
    assert client.simulate_patch(f"/api/v1/courses/{course['id']}", headers=prep, json={}).status_code == 422


def test_delete_removes_the_course(client, prep, course):
    url = f"/api/v1/courses/{course['id']}"
    assert client.simulate_delete(url, headers=prep).status_code == 204
    assert client.simulate_get(url, headers=prep).status_code == 404
    assert client.simulate_delete(url, headers=prep).status_code == 404


def test_delete_removes_stored_objects_of_its_materials(client, prep, course, tenant, db, storage):
    key = f"test/{uuid.uuid4()}/notes.txt"
    storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"notes")
    tenant_id = tenant.id
    db.execute(
        "INSERT INTO source_materials (tenant_id, course_id, source_type, filename, s3_key) "
        "VALUES (%s, %s, 'text', 'notes.txt', %s)",
        (tenant_id, course["id"], key),
    )
    assert client.simulate_delete(f"/api/v1/courses/{course['id']}", headers=prep).status_code == 204
    assert db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course["id"],)).fetchone() == (0,)
    listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=key)
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize("path", ["/api/v1/courses/not-a-uuid", "/api/v1/courses/12345"])
def test_malformed_course_id_is_404(client, prep, path):
    assert client.simulate_get(path, headers=prep).status_code == 404


def test_another_tenants_course_is_404_everywhere(client, prep, course, tenant, other_tenant, db):
    seed_structure(db, tenant.id, course["id"], modules=1, lessons=1)
    url = f"/api/v1/courses/{course['id']}"
    lesson_id = client.simulate_get(url, headers=prep).json["modules"][0]["lessons"][0]["id"]
    headers = {"X-API-Key": other_tenant.make_key().secret}
    assert client.simulate_get(url, headers=headers).status_code == 404
    assert client.simulate_patch(url, headers=headers, json={"title": "stolen"}).status_code == 404
    assert client.simulate_delete(url, headers=headers).status_code == 404
    assert client.simulate_get(url + "/slide-mapping", headers=headers).status_code == 404
    assert client.simulate_get(f"{url}/lessons/{lesson_id}", headers=headers).status_code == 404
    assert client.simulate_get("/api/v1/courses", headers=headers).json["items"] == []
    # and the owner's course is untouched
    assert client.simulate_get(url, headers=prep).json["title"] == course["title"]
    assert client.simulate_get(f"{url}/lessons/{lesson_id}", headers=prep).status_code == 200


def test_pagination_walks_every_course_once_newest_first(client, prep):
    created = [
        client.simulate_post("/api/v1/courses", headers=prep, json={"title": f"c{i}"}).json["id"] for i in range(7)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.simulate_get("/api/v1/courses", headers=prep, params=params).json
        assert page["total"] == 7 and len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "garbage!"}, {"cursor": "WyJ4Il0"}]
)
def test_bad_pagination_parameters_are_422(client, prep, params):
    result = client.simulate_get("/api/v1/courses", headers=prep, params=params)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] in params


def test_a_course_deleted_while_s3_is_stopped_leaves_no_object_once_s3_is_back(
    client, prep, course, tenant, db, storage, faults
):
    """The rows go at once (204); the stored file waits in the deletion outbox, and the uploads
    service's janitor deletes it once S3 answers again."""
    key = material_objects.object_key(tenant.id, course["id"], str(uuid.uuid4()), "notes.txt")
    storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"notes")
    db.execute(
        "INSERT INTO source_materials (tenant_id, course_id, source_type, filename, s3_key) "
        "VALUES (%s, %s, 'text', 'notes.txt', %s)",
        (tenant.id, course["id"], key),
    )
    faults.stop_s3()
    try:
        assert client.simulate_delete(f"/api/v1/courses/{course['id']}", headers=prep).status_code == 204
        assert db.execute("SELECT count(*) FROM source_materials WHERE course_id = %s", (course["id"],)).fetchone() == (
            0,
        )
        assert db.execute("SELECT count(*) FROM object_deletions WHERE key = %s", (key,)).fetchone() == (1,)
    finally:
        faults.start_s3()
    wait_until(
        lambda: not _stored(storage, key),
        timeout=30,
        what="the janitor to delete the stored file",
    )
    wait_until(
        lambda: db.execute("SELECT count(*) FROM object_deletions WHERE key = %s", (key,)).fetchone() == (0,),
        timeout=10,
        what="the outbox to forget it",
    )


def _stored(storage, key: str) -> bool:
    """Whether S3 holds ``key`` (or cannot say yet: it is still starting)."""
    try:
        return storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=key).get("KeyCount", 0) > 0
    except (BotoCoreError, ClientError):
        return True
