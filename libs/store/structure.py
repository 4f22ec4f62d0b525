"""The one owner of a course's structure: modules → lessons → concepts and exercises.

The courses service reads it, the agent's ArchitectAgent replaces it; nothing else writes SQL
for these tables. Every query takes the tenant id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.store import courses, structure_match

DIFFICULTIES = ("easy", "medium", "hard")
EXERCISE_DIFFICULTY = (1, 5)  # easiest, hardest: the exercises table's CHECK
# HH:MM:SS, as the lessons' and slide mapping's CHECK constraints (migrations 0002, 0003) say
TIMECODE_PATTERN = "[0-9]{2}:[0-5][0-9]:[0-5][0-9]"  # of a module; an exercise's difficulty is 1 to 5

_MODULES = """SELECT id, position, title, description, learning_goal, expected_knowledge, expected_skills, difficulty
                FROM modules WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_LESSON_COLUMNS = "id, module_id, position, title, video_start_timecode, video_end_timecode, slide_start, slide_end"
_LESSONS = f"""SELECT {_LESSON_COLUMNS}
                 FROM lessons WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON = f"""SELECT {_LESSON_COLUMNS}
                FROM lessons WHERE id = %(lesson)s AND course_id = %(course)s AND tenant_id = %(tenant)s"""  # noqa: S608
_CONCEPT_COLUMNS = "id, position, title, definition, examples, timecodes, slide_references, web_references"
_CONCEPTS = f"""SELECT lesson_id, {_CONCEPT_COLUMNS}
                  FROM concepts WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_CONCEPTS = f"""SELECT {_CONCEPT_COLUMNS}
                         FROM concepts WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s
                        ORDER BY position"""  # noqa: S608
_EXERCISE_COLUMNS = "id, position, description, reference_solution, grading_criteria, difficulty"
_EXERCISES = f"""SELECT lesson_id, {_EXERCISE_COLUMNS}
                   FROM exercises WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_EXERCISES = f"""SELECT {_EXERCISE_COLUMNS}
                          FROM exercises WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s
                         ORDER BY position"""  # noqa: S608


def group_rows(rows: list[dict], key: str) -> dict[object, list[dict]]:
    groups: dict[object, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.pop(key), []).append(row)
    return groups


def nest(modules: list[dict], lessons: list[dict], **of_lesson: dict) -> list[dict]:
    """``modules`` with their ``lessons``, each lesson given its lists of ``of_lesson`` (name →
    lesson id → rows), all in the order the rows came."""
    for lesson in lessons:
        for name, groups in of_lesson.items():
            lesson[name] = groups.get(lesson["id"], [])
    lessons_by_module = group_rows(lessons, "module_id")
    for module in modules:
        module["lessons"] = lessons_by_module.get(module["id"], [])
    return modules


def read(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's modules with their lessons, concepts and exercises, in order: four
    queries whatever the size. Run it inside the caller's snapshot so the parts agree."""
    params = {"course": course_id, "tenant": tenant_id}
    cur = conn.cursor(row_factory=dict_row)
    modules = cur.execute(_MODULES, params).fetchall()
    lessons = cur.execute(_LESSONS, params).fetchall()
    concepts = group_rows(cur.execute(_CONCEPTS, params).fetchall(), "lesson_id")
    exercises = group_rows(cur.execute(_EXERCISES, params).fetchall(), "lesson_id")
    return nest(modules, lessons, concepts=concepts, exercises=exercises)


def read_lesson(conn: psycopg.Connection, tenant_id: str, course_id: str, lesson_id: str) -> dict:
    """One lesson with its concepts and exercises; NotFound unless it is in this tenant's course."""
    params = {"tenant": tenant_id, "course": course_id, "lesson": lesson_id}
    cur = conn.cursor(row_factory=dict_row)
    lesson = cur.execute(_LESSON, params).fetchone()
    if lesson is None:
        raise NotFound("No lesson with this id in this course.")
    lesson["concepts"] = cur.execute(_LESSON_CONCEPTS, params).fetchall()
    lesson["exercises"] = cur.execute(_LESSON_EXERCISES, params).fetchall()
    return lesson


def course_brief(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    """The course's own fields that frame its structure (see :func:`libs.store.courses.brief`)."""
    return courses.brief(conn, tenant_id, course_id)


# Every kept row's position moves this far out of the way first, so that giving rows their new
# positions never meets the UNIQUE (parent, position) of a row not yet moved.
_OUT_OF_THE_WAY = 1_000_000
_SHIFT = {
    kind: f"UPDATE {kind} SET position = position + {_OUT_OF_THE_WAY} WHERE course_id = %s AND tenant_id = %s"  # noqa: S608
    for kind in ("modules", "lessons", "concepts", "exercises")
}
_MODULE_COLUMNS = "title, description, learning_goal, expected_knowledge, expected_skills, difficulty"
_WRITE = {
    "modules": (
        f"INSERT INTO modules (id, tenant_id, course_id, position, {_MODULE_COLUMNS})"  # noqa: S608
        " VALUES (%(id)s, %(tenant)s, %(course)s, %(position)s, %(title)s, %(description)s, %(learning_goal)s,"
        " %(expected_knowledge)s, %(expected_skills)s, %(difficulty)s)"
        " ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, title = EXCLUDED.title,"
        " description = EXCLUDED.description, learning_goal = EXCLUDED.learning_goal,"
        " expected_knowledge = EXCLUDED.expected_knowledge, expected_skills = EXCLUDED.expected_skills,"
        " difficulty = EXCLUDED.difficulty WHERE modules.tenant_id = EXCLUDED.tenant_id"
    ),
    "lessons": (
        "INSERT INTO lessons (id, tenant_id, course_id, module_id, position, title, video_start_timecode,"
        " video_end_timecode, slide_start, slide_end) VALUES (%(id)s, %(tenant)s, %(course)s, %(parent)s,"
        " %(position)s, %(title)s, %(video_start_timecode)s, %(video_end_timecode)s, %(slide_start)s, %(slide_end)s)"
        " ON CONFLICT (id) DO UPDATE SET module_id = EXCLUDED.module_id, position = EXCLUDED.position,"
        " title = EXCLUDED.title, video_start_timecode = EXCLUDED.video_start_timecode,"
        " video_end_timecode = EXCLUDED.video_end_timecode, slide_start = EXCLUDED.slide_start,"
        " slide_end = EXCLUDED.slide_end WHERE lessons.tenant_id = EXCLUDED.tenant_id"
    ),
    # an embedding is kept while the text it was made from is unchanged, dropped when the text
    # changed and the run brought none
    "concepts": (
        "INSERT INTO concepts (id, tenant_id, course_id, lesson_id, position, title, definition, examples,"
        " timecodes, slide_references, web_references, embedding) VALUES (%(id)s, %(tenant)s, %(course)s,"
        " %(parent)s, %(position)s, %(title)s, %(definition)s, %(examples)s, %(timecodes)s, %(slide_references)s,"
        " %(web_references)s::jsonb, %(embedding)s::vector)"
        " ON CONFLICT (id) DO UPDATE SET lesson_id = EXCLUDED.lesson_id, position = EXCLUDED.position,"
        " title = EXCLUDED.title, definition = EXCLUDED.definition, examples = EXCLUDED.examples,"
        " timecodes = EXCLUDED.timecodes, slide_references = EXCLUDED.slide_references,"
        " web_references = EXCLUDED.web_references,"
        " embedding = CASE WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding"
        "   WHEN concepts.title = EXCLUDED.title AND concepts.definition = EXCLUDED.definition"
        "   THEN concepts.embedding END"
        " WHERE concepts.tenant_id = EXCLUDED.tenant_id"
    ),
    "exercises": (
        "INSERT INTO exercises (id, tenant_id, course_id, lesson_id, position, description, reference_solution,"
        " grading_criteria, difficulty) VALUES (%(id)s, %(tenant)s, %(course)s, %(parent)s, %(position)s,"
        " %(description)s, %(reference_solution)s, %(grading_criteria)s, %(difficulty)s)"
        " ON CONFLICT (id) DO UPDATE SET lesson_id = EXCLUDED.lesson_id, position = EXCLUDED.position,"
        " description = EXCLUDED.description, reference_solution = EXCLUDED.reference_solution,"
        " grading_criteria = EXCLUDED.grading_criteria, difficulty = EXCLUDED.difficulty"
        " WHERE exercises.tenant_id = EXCLUDED.tenant_id"
    ),
}
_DELETE = {
    kind: f"DELETE FROM {kind} WHERE id = ANY(%s) AND course_id = %s AND tenant_id = %s"  # noqa: S608
    for kind in ("exercises", "concepts", "lessons", "modules")
}


def _rows(modules: Sequence[Mapping[str, Any]], ids: Mapping[str, list[str]], tenant_id: str, course_id: str) -> dict:
    """The parameters of each kind's rows, in the order :func:`structure_match.assign` numbered
    them, each with its id, its parent's and its position."""
    rows: dict[str, list[dict]] = {"modules": [], "lessons": [], "concepts": [], "exercises": []}
    base = {"tenant": tenant_id, "course": course_id}
    for m, module in enumerate(modules):
        module_id = ids["modules"][len(rows["modules"])]
        rows["modules"].append(
            {
                **base,
                "id": module_id,
                "position": m,
                "title": module["title"],
                "description": module.get("description"),
                "learning_goal": module.get("learning_goal"),
                "expected_knowledge": list(module.get("expected_knowledge", ())),
                "expected_skills": list(module.get("expected_skills", ())),
                "difficulty": module.get("difficulty"),
            }
        )
        for n, lesson in enumerate(module.get("lessons", ())):
            lesson_id = ids["lessons"][len(rows["lessons"])]
            rows["lessons"].append(
                {
                    **base,
                    "id": lesson_id,
                    "parent": module_id,
                    "position": n,
                    "title": lesson["title"],
                    **{k: lesson.get(k) for k in _LESSON_ANCHORS},
                }
            )
            for c, concept in enumerate(lesson.get("concepts", ())):
                embedding = concept.get("embedding")
                rows["concepts"].append(
                    {
                        **base,
                        "id": ids["concepts"][len(rows["concepts"])],
                        "parent": lesson_id,
                        "position": c,
                        "title": concept["title"],
                        "definition": concept["definition"],
                        "examples": list(concept.get("examples", ())),
                        "timecodes": list(concept.get("timecodes", ())),
                        "slide_references": list(concept.get("slide_references", ())),
                        "web_references": json.dumps(list(concept.get("web_references", ()))),
                        "embedding": None if embedding is None else "[" + ",".join(map(str, embedding)) + "]",
                    }
                )
            for e, exercise in enumerate(lesson.get("exercises", ())):
                rows["exercises"].append(
                    {
                        **base,
                        "id": ids["exercises"][len(rows["exercises"])],
                        "parent": lesson_id,
                        "position": e,
                        "description": exercise["description"],
                        "reference_solution": exercise.get("reference_solution"),
                        "grading_criteria": exercise.get("grading_criteria"),
                        "difficulty": exercise["difficulty"],
                    }
                )
    return rows


_LESSON_ANCHORS = ("video_start_timecode", "video_end_timecode", "slide_start", "slide_end")


def replace(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    modules: Sequence[Mapping[str, Any]],
    *,
    course: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Make ``modules`` (nested as :func:`read` returns them, without ids and positions) the
    course's whole structure, in one transaction: readers see the old structure or the new,
    never a mix, and a failure leaves the old one. Returns the counts written.

    Items that match a current item (:mod:`libs.store.structure_match`: same text, same
    anchors, or similar text under the same parent) keep its id and are updated in place; the
    others are inserted with new ids; current items nothing matched are deleted. So a run that
    returns the same course leaves every id as it was, and submissions keep their exercise.

    Concepts may carry an ``embedding`` (a list of floats, or None; a kept concept whose text is
    unchanged keeps its own). ``course`` may carry the course-level description, learning goal,
    expected knowledge and skills a run produced (the title stays the one the client gave)."""
    with conn.transaction():
        courses.require(conn, tenant_id, course_id, lock=True)
        assignment = structure_match.assign(read(conn, tenant_id, course_id), modules)
        rows = _rows(modules, assignment.ids, tenant_id, course_id)
        if course:
            courses.set_structure_fields(conn, tenant_id, course_id, course)
        with conn.cursor() as cur:
            for shift in _SHIFT.values():
                cur.execute(shift, (course_id, tenant_id))
            for kind in ("modules", "lessons", "concepts", "exercises"):
                if rows[kind]:
                    cur.executemany(_WRITE[kind], rows[kind])
            # children a removed parent had are moved or removed by now; what is left goes
            for kind, statement in _DELETE.items():
                if assignment.removed[kind]:
                    cur.execute(statement, (list(assignment.removed[kind]), course_id, tenant_id))
    return {kind: len(batch) for kind, batch in rows.items()}


# --- one exercise, for grading ---------------------------------------------------------------

_EXERCISE = """SELECT e.id, e.lesson_id, e.description, e.reference_solution, e.grading_criteria, e.difficulty
                 FROM exercises e
                WHERE e.id = %(exercise)s AND e.course_id = %(course)s AND e.tenant_id = %(tenant)s"""


def has_exercise(conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str) -> bool:
    """Whether the tenant's course has this exercise now."""
    params = (exercise_id, course_id, tenant_id)
    return (
        conn.execute("SELECT 1 FROM exercises WHERE id = %s AND course_id = %s AND tenant_id = %s", params).fetchone()
        is not None
    )


def exercise(conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str) -> dict:
    """One exercise with what grading needs (description, criteria, reference solution);
    :class:`NotFound` unless it is in this tenant's course."""
    params = {"tenant": tenant_id, "course": course_id, "exercise": exercise_id}
    row = conn.cursor(row_factory=dict_row).execute(_EXERCISE, params).fetchone()
    if row is None:
        raise NotFound("No exercise with this id in this course.")
    return row
