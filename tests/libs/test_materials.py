"""libs.materials: the key layout, status changes and the worker's read, per tenant."""

import uuid

import pytest

from libs import courses, materials
from libs.errors import NotFound


@pytest.fixture
def material(tenant, other_tenant, db, pool):
    owner = tenant.id
    course_id = str(courses.create(db, owner, {"title": "x"})["id"])
    with pool.connection() as conn, conn.transaction():
        row = materials.create_with_job(
            conn,
            owner,
            material_id=str(uuid.uuid4()),
            course_id=course_id,
            source_type="web",
            source_url="https://example.com/",
            filename=None,
            content_type=None,
            size=None,
            key=None,
        )
        # held by "a test worker" from the moment it commits, so the stack's real worker
        # leaves this material's status to the tests
        conn.execute(
            "UPDATE jobs SET status = 'running', locked_by = 'tests', lease_expires_at = now() + interval '1 hour'"
            " WHERE id = %s",
            (row["job_id"],),
        )
    return {"id": str(row["id"]), "tenant": owner, "course": course_id, "other_tenant": other_tenant.id}


def test_object_keys_stay_under_their_material(material):
    key = materials.object_key("t", "c", "m", "../../etc/pass wd.txt")
    assert key == "tenants/t/courses/c/materials/m/pass_wd.txt"
    assert key.startswith(materials.course_prefix("t", "c"))


def test_status_changes_and_the_workers_read(pool, material):
    with pool.connection() as conn:
        materials.set_status(conn, material["tenant"], material["id"], "error", "the page answered 404")
        loaded = materials.load(conn, material["tenant"], material["id"])
        assert (loaded["status"], loaded["error_message"], loaded["s3_key"]) == ("error", "the page answered 404", None)
        materials.set_status(conn, material["tenant"], material["id"], "done", "ignored unless error")
        assert materials.load(conn, material["tenant"], material["id"])["error_message"] is None
        with pytest.raises(ValueError):
            materials.set_status(conn, material["tenant"], material["id"], "finished")


def test_another_tenant_sees_no_material(pool, material):
    with pool.connection() as conn:
        with pytest.raises(NotFound):
            materials.load(conn, material["other_tenant"], material["id"])
        with pytest.raises(NotFound):
            materials.set_status(conn, material["other_tenant"], material["id"], "done")
        assert materials.list_for_course(conn, material["other_tenant"], material["course"]) == []
        assert materials.load(conn, material["tenant"], material["id"])["status"] == "pending"
