"""libs.store.materials: the key layout, status changes and the worker's read, per tenant."""

import pytest

from libs.errors import NotFound
from libs.store import courses, material_objects, materials
from tests.conftest import held_material


@pytest.fixture
def material(tenant, other_tenant, db):
    course_id = str(courses.create(db, tenant.id, {"title": "x"})["id"])
    material_id = held_material(db, tenant.id, course_id)
    return {"id": material_id, "tenant": tenant.id, "course": course_id, "other_tenant": other_tenant.id}


def test_object_keys_stay_under_their_material(material):
    key = material_objects.object_key("t", "c", "m", "../../etc/pass wd.txt")
    assert key == "tenants/t/courses/c/materials/m/pass_wd.txt"
    assert key.startswith(material_objects.course_prefix("t", "c"))


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
