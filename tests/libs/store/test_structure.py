"""libs.store.structure: the one reader and writer of a course's modules, lessons, concepts, exercises."""

import psycopg
import pytest

from devstack.seed import made_up_structure
from libs.errors import NotFound
from libs.store import courses, structure


@pytest.fixture
def owned_course(db, tenant) -> tuple[str, str]:
    tenant_id = tenant.id
    return tenant_id, str(courses.create(db, tenant_id, {"title": "Structured"})["id"])


def revision(db, course_id: str) -> int:
    return db.execute("SELECT revision FROM courses WHERE id = %s", (course_id,)).fetchone()[0]


def test_a_replaced_structure_reads_back_in_order(db, owned_course):
    tenant_id, course_id = owned_course
    counts = structure.replace(db, tenant_id, course_id, made_up_structure(2, 3, 2, 1))
    assert counts == {"modules": 2, "lessons": 6, "concepts": 12, "exercises": 6}
    modules = structure.read(db, tenant_id, course_id)
    assert [m["title"] for m in modules] == ["Module 1", "Module 2"]
    lesson = modules[1]["lessons"][2]
    assert lesson["title"] == "Lesson 2.3"
    assert [c["title"] for c in lesson["concepts"]] == ["Concept 2.3.1", "Concept 2.3.2"]
    assert lesson["concepts"][0]["web_references"] == [{"url": "https://docs.python.org/3/", "title": "Python docs"}]
    assert structure.read_lesson(db, tenant_id, course_id, str(lesson["id"]))["exercises"] == lesson["exercises"]


def test_a_new_structure_replaces_the_old_one_with_one_revision(db, owned_course):
    tenant_id, course_id = owned_course
    structure.replace(db, tenant_id, course_id, made_up_structure(3, 2, 2, 2))
    before = revision(db, course_id)
    structure.replace(db, tenant_id, course_id, made_up_structure(1, 1, 1, 0))
    modules = structure.read(db, tenant_id, course_id)
    assert len(modules) == 1 and len(modules[0]["lessons"]) == 1
    assert modules[0]["lessons"][0]["exercises"] == []
    assert revision(db, course_id) == before + 1


def test_a_failed_replace_leaves_the_old_structure(db, owned_course):
    tenant_id, course_id = owned_course
    structure.replace(db, tenant_id, course_id, made_up_structure(2, 1, 1, 1))
    broken = made_up_structure(3, 1, 1, 1)
    broken[2]["lessons"][0]["exercises"][0]["difficulty"] = 9  # outside 1 to 5: the database refuses
    with pytest.raises(psycopg.errors.CheckViolation):
        structure.replace(db, tenant_id, course_id, broken)
    assert [m["title"] for m in structure.read(db, tenant_id, course_id)] == ["Module 1", "Module 2"]


def test_concept_embeddings_are_stored(db, owned_course):
    tenant_id, course_id = owned_course
    modules = made_up_structure(1, 1, 1, 0)
    modules[0]["lessons"][0]["concepts"][0]["embedding"] = [0.5] * 1536
    structure.replace(db, tenant_id, course_id, modules)
    dimensions = db.execute("SELECT vector_dims(embedding) FROM concepts WHERE course_id = %s", (course_id,))
    assert dimensions.fetchone() == (1536,)


def test_another_tenant_can_neither_replace_nor_read_the_structure(db, owned_course, other_tenant):
    tenant_id, course_id = owned_course
    structure.replace(db, tenant_id, course_id, made_up_structure(1, 1, 1, 1))
    intruder = other_tenant.id
    with pytest.raises(NotFound):
        structure.replace(db, intruder, course_id, [])
    assert structure.read(db, intruder, course_id) == []
    lesson_id = str(structure.read(db, tenant_id, course_id)[0]["lessons"][0]["id"])
    with pytest.raises(NotFound):
        structure.read_lesson(db, intruder, course_id, lesson_id)
    assert len(structure.read(db, tenant_id, course_id)) == 1


def test_a_run_writes_the_course_level_fields_with_its_structure(db, owned_course):
    tenant_id, course_id = owned_course
    course = {
        "title": "A title the client did not choose",
        "description": "What the course covers",
        "learning_goal": "Write small programs",
        "expected_knowledge": ["variables"],
        "expected_skills": ["write a loop"],
    }
    structure.replace(db, tenant_id, course_id, made_up_structure(1, 1, 1, 1), course=course)
    brief = structure.course_brief(db, tenant_id, course_id)
    assert (brief["title"], brief["description"], brief["learning_goal"]) == (
        "Structured",
        "What the course covers",
        "Write small programs",
    )
    assert (brief["expected_knowledge"], brief["expected_skills"]) == (["variables"], ["write a loop"])


def test_a_rerun_of_the_same_structure_keeps_every_id_and_each_unchanged_embedding(db, owned_course):
    tenant_id, course_id = owned_course
    first = made_up_structure(2, 2, 2, 1)
    first[0]["lessons"][0]["concepts"][0]["embedding"] = [0.5] * 1536
    structure.replace(db, tenant_id, course_id, first)
    before = structure.read(db, tenant_id, course_id)
    structure.replace(db, tenant_id, course_id, made_up_structure(2, 2, 2, 1))  # no embeddings this time
    assert structure.read(db, tenant_id, course_id) == before
    embedded = db.execute("SELECT count(*) FROM concepts WHERE course_id = %s AND embedding IS NOT NULL", (course_id,))
    assert embedded.fetchone()[0] == 1


def test_a_rerun_that_reorders_and_drops_keeps_the_ids_of_what_it_keeps(db, owned_course):
    tenant_id, course_id = owned_course
    structure.replace(db, tenant_id, course_id, made_up_structure(2, 2, 1, 1))
    before = structure.read(db, tenant_id, course_id)
    rerun = made_up_structure(2, 2, 1, 1)
    rerun.reverse()  # the modules swap places
    del rerun[0]["lessons"][1]  # "Lesson 2.2" goes
    structure.replace(db, tenant_id, course_id, rerun)
    after = structure.read(db, tenant_id, course_id)
    assert [m["id"] for m in after] == [before[1]["id"], before[0]["id"]]
    assert [lesson["id"] for lesson in after[0]["lessons"]] == [before[1]["lessons"][0]["id"]]
    gone = before[1]["lessons"][1]["id"]
    assert db.execute("SELECT count(*) FROM lessons WHERE id = %s", (gone,)).fetchone()[0] == 0
