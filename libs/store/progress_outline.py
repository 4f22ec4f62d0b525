"""What a student's progress is computed over: a course's outline (modules, lessons, exercise
ids) and the concepts of the lessons to review. Read-only queries on the structure's tables,
whose owner is :mod:`libs.store.structure`; every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.rows import dict_row

from libs.store.structure import group_rows, nest

_OUTLINE_MODULES = """SELECT id, title FROM modules
                       WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_OUTLINE_LESSONS = """SELECT id, module_id, title, video_start_timecode, slide_start FROM lessons
                       WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_OUTLINE_EXERCISES = """SELECT lesson_id, id FROM exercises
                         WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_CONCEPTS_OF_LESSONS = """SELECT lesson_id, id, title, timecodes, slide_references FROM concepts
                           WHERE lesson_id = ANY(%(lessons)s) AND tenant_id = %(tenant)s ORDER BY position"""


def outline(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's modules → lessons (title, where the lesson starts) → exercise ids, in order:
    what progress needs, without the concepts' and exercises' texts that :func:`read` carries."""
    params = {"course": course_id, "tenant": tenant_id}
    cur = conn.cursor(row_factory=dict_row)
    modules = cur.execute(_OUTLINE_MODULES, params).fetchall()
    lessons = cur.execute(_OUTLINE_LESSONS, params).fetchall()
    exercises = group_rows(cur.execute(_OUTLINE_EXERCISES, params).fetchall(), "lesson_id")
    ids = {lesson: [row["id"] for row in rows] for lesson, rows in exercises.items()}
    return nest(modules, lessons, exercises=ids)


def concepts_of_lessons(conn: psycopg.Connection, tenant_id: str, lesson_ids: Sequence[object]) -> dict:
    """Lesson id → its concepts (id, title, timecodes, slide references), in order."""
    if not lesson_ids:
        return {}
    params = {"lessons": list(lesson_ids), "tenant": tenant_id}
    return group_rows(conn.cursor(row_factory=dict_row).execute(_CONCEPTS_OF_LESSONS, params).fetchall(), "lesson_id")
