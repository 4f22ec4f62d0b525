"""One lesson with its concepts and exercises."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound


def get(conn: psycopg.Connection, tenant_id: str, course_id: str, lesson_id: str) -> dict:
    params = {"tenant": tenant_id, "course": course_id, "lesson": lesson_id}
    cur = conn.cursor(row_factory=dict_row)
    lesson = cur.execute(
        """SELECT id, module_id, position, title, video_start_timecode, video_end_timecode, slide_start, slide_end
             FROM lessons WHERE id = %(lesson)s AND course_id = %(course)s AND tenant_id = %(tenant)s""",
        params,
    ).fetchone()
    if lesson is None:
        raise NotFound("No lesson with this id in this course.")
    lesson["concepts"] = cur.execute(
        """SELECT id, position, title, definition, examples, timecodes, slide_references, web_references
             FROM concepts WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s ORDER BY position""",
        params,
    ).fetchall()
    lesson["exercises"] = cur.execute(
        """SELECT id, position, description, reference_solution, grading_criteria, difficulty
             FROM exercises WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s ORDER BY position""",
        params,
    ).fetchall()
    return lesson
