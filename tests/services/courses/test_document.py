import uuid

import psycopg

from devstack.seed import seed_structure
from services.courses import document
from tests.services.courses.reading import read_after_foreign_write


def test_document_nests_modules_lessons_concepts_and_exercises_in_order(client, prep, course, tenant, db):
    seed_structure(db, tenant.id, course["id"])
    result = client.simulate_get(f"/api/v1/courses/{course['id']}", headers=prep)
    assert result.status_code == 200
    doc = result.json
    assert [m["title"] for m in doc["modules"]] == [f"Module {i}" for i in range(1, 6)]
    assert all(len(m["lessons"]) == 4 for m in doc["modules"])
    lesson = doc["modules"][1]["lessons"][2]
    assert lesson["title"] == "Lesson 2.3"
    assert [c["title"] for c in lesson["concepts"]] == ["Concept 2.3.1", "Concept 2.3.2", "Concept 2.3.3"]
    assert [e["position"] for e in lesson["exercises"]] == [0, 1]
    assert doc["materials"] == []
    assert len(result.content) > 30_000


class CountingCursor(psycopg.Cursor):
    statements = 0

    def execute(self, query, params=None, **kwargs):
        CountingCursor.statements += 1
        return super().execute(query, params, **kwargs)


def statements_to_build(settings, tenant_id, course_id) -> int:
    with psycopg.connect(settings.postgres_conninfo, cursor_factory=CountingCursor) as conn:
        CountingCursor.statements = 0
        document.build(conn, tenant_id, course_id)
        return CountingCursor.statements


def test_document_costs_a_constant_number_of_queries(course, tenant, db, settings):
    tenant_id = tenant.id
    seed_structure(db, tenant_id, course["id"], modules=1, lessons=1, concepts=1, exercises=1)
    small = statements_to_build(settings, tenant_id, course["id"])
    seed_structure(db, tenant_id, course["id"], modules=5, lessons=4, concepts=3, exercises=2)
    large = statements_to_build(settings, tenant_id, course["id"])
    assert small == large <= 8


def test_etag_changes_with_the_document_and_if_none_match_answers_304(client, prep, course, tenant, db):
    url = f"/api/v1/courses/{course['id']}"
    first = client.simulate_get(url, headers=prep)
    etag = first.headers["etag"]
    assert client.simulate_get(url, headers={**prep, "If-None-Match": etag}).status_code == 304
    conditional = {**prep, "If-None-Match": etag}
    seed_structure(db, tenant.id, course["id"], modules=1, lessons=1)
    after_structure = read_after_foreign_write(
        lambda: client.simulate_get(url, headers=conditional), lambda r: r.status_code != 304
    )
    assert after_structure.status_code == 200 and after_structure.headers["etag"] != etag
    etag = after_structure.headers["etag"]
    client.simulate_patch(url, headers=prep, json={"title": "Renamed"})
    after_patch = client.simulate_get(url, headers={**prep, "If-None-Match": etag})
    assert after_patch.status_code == 200 and after_patch.json["title"] == "Renamed"
    etag = after_patch.headers["etag"]
    db.execute(
        "INSERT INTO source_materials (tenant_id, course_id, source_type, source_url) "
        "VALUES (%s, %s, 'web', 'https://example.com')",
        (tenant.id, course["id"]),
    )
    conditional = {**prep, "If-None-Match": etag}
    after_material = read_after_foreign_write(
        lambda: client.simulate_get(url, headers=conditional), lambda r: r.status_code != 304
    )
    assert after_material.status_code == 200
    assert after_material.json["materials"][0]["status"] == "pending"
    etag = after_material.headers["etag"]
    db.execute("UPDATE source_materials SET status = 'done' WHERE course_id = %s", (course["id"],))
    conditional = {**prep, "If-None-Match": etag}
    after_status = read_after_foreign_write(
        lambda: client.simulate_get(url, headers=conditional), lambda r: r.status_code != 304
    )
    assert after_status.status_code == 200 and after_status.json["materials"][0]["status"] == "done"


def test_lesson_read_returns_its_concepts_and_exercises(client, prep, course, tenant, db):
    seed_structure(db, tenant.id, course["id"], modules=1, lessons=2)
    doc = client.simulate_get(f"/api/v1/courses/{course['id']}", headers=prep).json
    lesson = doc["modules"][0]["lessons"][1]
    result = client.simulate_get(f"/api/v1/courses/{course['id']}/lessons/{lesson['id']}", headers=prep)
    assert result.status_code == 200
    assert result.json["title"] == lesson["title"]
    assert result.json["concepts"] == lesson["concepts"]
    assert result.json["exercises"] == lesson["exercises"]


def test_lesson_of_another_course_is_404(client, prep, course, tenant, db):
    seed_structure(db, tenant.id, course["id"], modules=1, lessons=1)
    lesson_id = client.simulate_get(f"/api/v1/courses/{course['id']}", headers=prep).json["modules"][0]["lessons"][0][
        "id"
    ]
    other = client.simulate_post("/api/v1/courses", headers=prep, json={"title": "Other"}).json["id"]
    assert client.simulate_get(f"/api/v1/courses/{other}/lessons/{lesson_id}", headers=prep).status_code == 404
    assert (
        client.simulate_get(f"/api/v1/courses/{course['id']}/lessons/{uuid.uuid4()}", headers=prep).status_code == 404
    )
