"""POST …/materials/{id}/retry: a material whose ingestion failed gets a new job; any other is 409."""

from __future__ import annotations

import uuid

from tests.conftest import held_material


def retry(client, course: dict, material_id: str, key: str | None = None):
    return client.simulate_post(
        f"/api/v1/courses/{course['id']}/materials/{material_id}/retry", headers={"X-API-Key": key or course["key"]}
    )


def test_a_failed_material_is_pending_again_with_a_new_job(client, course, db, tenant):
    material_id = held_material(db, tenant.id, course["id"], status="error")
    old_job = db.execute("SELECT id FROM jobs WHERE material_id = %s", (material_id,)).fetchone()[0]
    result = retry(client, course, material_id)
    assert result.status_code == 202, result.text
    assert (result.json["status"], result.json["error_message"]) == ("pending", None)
    jobs = [
        row[0] for row in db.execute("SELECT id FROM jobs WHERE material_id = %s ORDER BY created_at", (material_id,))
    ]
    assert jobs[0] == old_job and len(jobs) == 2
    assert result.json["job_id"] == str(jobs[1])


def test_a_material_not_in_error_is_409_saying_its_status(client, course, db, tenant):
    material_id = held_material(db, tenant.id, course["id"], status="processing")
    result = retry(client, course, material_id)
    assert result.status_code == 409
    assert "this one is processing" in result.json["description"]
    assert db.execute("SELECT count(*) FROM jobs WHERE material_id = %s", (material_id,)).fetchone() == (1,)


def test_another_tenants_material_or_none_is_404(client, course, db, tenant, other_tenant):
    material_id = held_material(db, tenant.id, course["id"], status="error")
    assert retry(client, course, material_id, key=other_tenant.make_key().secret).status_code == 404
    assert retry(client, course, str(uuid.uuid4())).status_code == 404
    assert db.execute("SELECT status FROM source_materials WHERE id = %s", (material_id,)).fetchone() == ("error",)


def test_retry_needs_the_prep_scope(client, course, db, tenant):
    material_id = held_material(db, tenant.id, course["id"], status="error")
    assert retry(client, course, material_id, key=tenant.make_key(("check",)).secret).status_code == 403
