"""The one owner of a course's structure: modules → lessons → concepts and exercises.

The courses service reads it, the agent's ArchitectAgent replaces it; nothing else writes SQL
for these tables. Every query takes the tenant id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.store import courses

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

    Concepts may carry an ``embedding`` (a list of floats, or None). ``course`` may carry the
    course-level description, learning goal, expected knowledge and skills a run produced
    (the title stays the one the client gave)."""
    rows: dict[str, list[tuple]] = {"modules": [], "lessons": [], "concepts": [], "exercises": []}
    for m, module in enumerate(modules):
        module_id = uuid.uuid4()
        rows["modules"].append(
            (
                module_id,
                tenant_id,
                course_id,
                m,
                module["title"],
                module.get("description"),
                module.get("learning_goal"),
                list(module.get("expected_knowledge", ())),
                list(module.get("expected_skills", ())),
                module.get("difficulty"),
            )
        )
        for n, lesson in enumerate(module.get("lessons", ())):
            lesson_id = uuid.uuid4()
            rows["lessons"].append(
                (
                    lesson_id,
                    tenant_id,
                    course_id,
                    module_id,
                    n,
                    lesson["title"],
                    lesson.get("video_start_timecode"),
                    lesson.get("video_end_timecode"),
                    lesson.get("slide_start"),
                    lesson.get("slide_end"),
                )
            )
            for c, concept in enumerate(lesson.get("concepts", ())):
                embedding = concept.get("embedding")
                rows["concepts"].append(
                    (
                        tenant_id,
                        course_id,
                        lesson_id,
                        c,
                        concept["title"],
                        concept["definition"],
                        list(concept.get("examples", ())),
                        list(concept.get("timecodes", ())),
                        list(concept.get("slide_references", ())),
                        json.dumps(list(concept.get("web_references", ()))),
                        None if embedding is None else "[" + ",".join(map(str, embedding)) + "]",
                    )
                )
            for e, exercise in enumerate(lesson.get("exercises", ())):
                rows["exercises"].append(
                    (
                        tenant_id,
                        course_id,
                        lesson_id,
                        e,
                        exercise["description"],
                        exercise.get("reference_solution"),
                        exercise.get("grading_criteria"),
                        exercise["difficulty"],
                    )
                )
    with conn.transaction():
        courses.require(conn, tenant_id, course_id, lock=True)
        if course:
            courses.set_structure_fields(conn, tenant_id, course_id, course)
        # lessons, concepts and exercises go with their modules (ON DELETE CASCADE)
        conn.execute("DELETE FROM modules WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO modules (id, tenant_id, course_id, position, title, description, learning_goal,"
                " expected_knowledge, expected_skills, difficulty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows["modules"],
            )
            cur.executemany(
                "INSERT INTO lessons (id, tenant_id, course_id, module_id, position, title, video_start_timecode,"
                " video_end_timecode, slide_start, slide_end) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows["lessons"],
            )
            cur.executemany(
                "INSERT INTO concepts (tenant_id, course_id, lesson_id, position, title, definition, examples,"
                " timecodes, slide_references, web_references, embedding)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::vector)",
                rows["concepts"],
            )
            cur.executemany(
                "INSERT INTO exercises (tenant_id, course_id, lesson_id, position, description, reference_solution,"
                " grading_criteria, difficulty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows["exercises"],
            )
    return {name: len(batch) for name, batch in rows.items()}


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
