"""The one owner of ``submissions``: students' answers to exercises and their grades.

A submission is created ``grading`` together with its grading job, and becomes ``graded``
(score, passed, feedback, criteria, with the model, prompt version and cost) or ``failed``.
Every query takes the tenant id: another tenant's submission does not exist.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from libs.errors import NotFound
from libs.http.pagination import PageRequest, page_of
from libs.webhooks import events

STATUSES = ("grading", "graded", "failed")
STUDENT_ID_MAX = 200  # the table's CHECK
ANSWER_MAX = 50 * 1024  # characters; the API refuses longer answers
SCORE_RANGE = (0, 100)  # the table's CHECK, and the grade's JSON Schema

_NULLABLE_STRING = {"type": "string", "nullable": True}
CRITERION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["criterion", "met", "comment"],
    "properties": {"criterion": {"type": "string"}, "met": {"type": "boolean"}, "comment": {"type": "string"}},
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "course_id": {"type": "string", "format": "uuid"},
        "exercise_id": {"type": "string", "format": "uuid"},
        "student_id": {"type": "string", "maxLength": STUDENT_ID_MAX},
        "answer": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "job_id": {"type": "string", "format": "uuid", "nullable": True, "description": "The grading job"},
        "score": {"type": "integer", "minimum": SCORE_RANGE[0], "maximum": SCORE_RANGE[1], "nullable": True},
        "passed": {"type": "boolean", "nullable": True},
        "feedback": _NULLABLE_STRING,
        "criteria": {"type": "array", "items": CRITERION_SCHEMA, "nullable": True},
        "model": _NULLABLE_STRING,
        "provider": _NULLABLE_STRING,
        "prompt_version": _NULLABLE_STRING,
        "cost_usd": {"type": "number", "minimum": 0},
        "error": {**_NULLABLE_STRING, "description": "Why grading failed, in plain words"},
        "created_at": {"type": "string", "format": "date-time"},
        "graded_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
SCHEMA["required"] = list(SCHEMA["properties"])

# What the API shows of a submission (SCHEMA above): written out, so a column added to the
# table is never published by accident; a test ties the two.
_VIEW = (
    "id, course_id, exercise_id, student_id, answer, status, job_id, score, passed, feedback, criteria, model,"
    " provider, prompt_version, cost_usd, error, created_at, graded_at"
)
_INSERT = f"""
INSERT INTO submissions (id, tenant_id, course_id, exercise_id, student_id, answer, job_id)
VALUES (%(id)s, %(tenant)s, %(course)s, %(exercise)s, %(student)s, %(answer)s, %(job)s)
RETURNING {_VIEW}
"""  # noqa: S608 (constants only)
_GET = f"SELECT {_VIEW} FROM submissions WHERE id = %(id)s AND tenant_id = %(tenant)s"  # noqa: S608
_OF_STUDENT = "tenant_id = %(tenant)s AND course_id = %(course)s AND student_id = %(student)s"
_PAGE = f"""
SELECT {_VIEW} FROM submissions
 WHERE {_OF_STUDENT} AND exercise_id = %(exercise)s
   AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s
"""  # noqa: S608 (constants only)
_COUNT = f"SELECT count(*) FROM submissions WHERE {_OF_STUDENT} AND exercise_id = %(exercise)s"  # noqa: S608
# Only a submission still grading takes a grade: whoever grades second writes nothing.
_GRADE = """
UPDATE submissions SET status = 'graded', score = %(score)s, passed = %(passed)s, feedback = %(feedback)s,
       criteria = %(criteria)s, model = %(model)s, provider = %(provider)s, prompt_version = %(prompt_version)s,
       cost_usd = cost_usd + %(cost)s, error = NULL, graded_at = now()
 WHERE id = %(id)s AND tenant_id = %(tenant)s AND status = 'grading'
RETURNING course_id, exercise_id, student_id, job_id
"""
_FAIL = """
UPDATE submissions SET status = 'failed', error = %(error)s, graded_at = now()
 WHERE id = %(id)s AND tenant_id = %(tenant)s AND status = 'grading'
RETURNING course_id, exercise_id, student_id, job_id
"""
# Per exercise: attempts, the best score, and whether any attempt passed (progress).
_BY_EXERCISE = f"""
SELECT exercise_id, count(*) AS attempts, max(score) AS best_score, coalesce(bool_or(passed), false) AS passed
  FROM submissions WHERE {_OF_STUDENT}
 GROUP BY exercise_id
"""  # noqa: S608 (constants only)


def create(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    submission_id: str,
    course_id: str,
    exercise_id: str,
    student_id: str,
    answer: str,
    job_id: str | None,
) -> dict:
    """A new submission, ``grading``, watched by ``job_id``; in the transaction that queued
    the job, so neither exists without the other."""
    params = {
        "id": submission_id,
        "tenant": tenant_id,
        "course": course_id,
        "exercise": exercise_id,
        "student": student_id,
        "answer": answer,
        "job": job_id,
    }
    return conn.cursor(row_factory=dict_row).execute(_INSERT, params).fetchone()


def get(conn: psycopg.Connection, tenant_id: str, submission_id: str) -> dict:
    """One submission as the API shows it (:data:`SCHEMA`); :class:`NotFound` otherwise."""
    row = conn.cursor(row_factory=dict_row).execute(_GET, {"id": submission_id, "tenant": tenant_id}).fetchone()
    if row is None:
        raise NotFound("No submission with this id.")
    return row


def get_of_exercise(
    conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str, submission_id: str
) -> dict:
    """:func:`get`, and :class:`NotFound` as well unless it answers this course's exercise."""
    row = get(conn, tenant_id, submission_id)
    if str(row["course_id"]) != course_id or str(row["exercise_id"]) != exercise_id:
        raise NotFound("No submission with this id.")
    return row


def submitted_to(conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str) -> bool:
    """Whether the tenant's students submitted answers to this exercise of the course."""
    return (
        conn.execute(
            "SELECT 1 FROM submissions WHERE exercise_id = %s AND course_id = %s AND tenant_id = %s LIMIT 1",
            (exercise_id, course_id, tenant_id),
        ).fetchone()
        is not None
    )


def page(
    conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str, student_id: str, request: PageRequest
) -> dict:
    """The student's submissions for the exercise, newest first (keyset, :mod:`libs.http.pagination`)."""
    after_at, after_id = request.after or (None, None)
    params = {
        "tenant": tenant_id,
        "course": course_id,
        "exercise": exercise_id,
        "student": student_id,
        "after_at": after_at,
        "after_id": after_id,
        "limit": request.fetch,
    }
    rows = conn.cursor(row_factory=dict_row).execute(_PAGE, params).fetchall()
    total = conn.execute(_COUNT, params).fetchone()[0]
    return page_of(rows, request, total)


def record_grade(
    conn: psycopg.Connection,
    tenant_id: str,
    submission_id: str,
    grade: dict,
    *,
    model: str,
    provider: str,
    prompt_version: str,
    cost_usd: Decimal,
) -> bool:
    """Store ``grade`` (``score``, ``passed``, ``feedback``, ``criteria``, already validated
    against the grade's schema); ``False`` if the submission is no longer grading."""
    params = {
        "id": submission_id,
        "tenant": tenant_id,
        "score": grade["score"],
        "passed": grade["passed"],
        "feedback": grade["feedback"],
        "criteria": Jsonb(grade["criteria"]),
        "model": model,
        "provider": provider,
        "prompt_version": prompt_version,
        "cost": cost_usd,
    }
    with conn.transaction():
        row = conn.execute(_GRADE, params).fetchone()
        if row is not None:
            summary = {"score": grade["score"], "passed": grade["passed"]}
            _emit(conn, tenant_id, "submission.graded", submission_id, row, summary=summary)
    return row is not None


def record_failure(conn: psycopg.Connection, tenant_id: str, submission_id: str, error: str) -> bool:
    """Mark a submission that could not be graded ``failed`` with ``error`` (plain words)."""
    with conn.transaction():
        row = conn.execute(_FAIL, {"id": submission_id, "tenant": tenant_id, "error": error}).fetchone()
        if row is not None:
            _emit(conn, tenant_id, "submission.failed", submission_id, row, error=error)
    return row is not None


def _emit(
    conn: psycopg.Connection, tenant_id: str, event_type: str, submission_id: str, row: tuple, **outcome: object
) -> None:
    course_id, exercise_id, student_id, job_id = row
    data = {
        "submission_id": submission_id,
        "course_id": str(course_id),
        "exercise_id": str(exercise_id),
        "student_id": student_id,
        "job_id": None if job_id is None else str(job_id),
        **outcome,
    }
    events.emit(conn, tenant_id, event_type, about=f"submission:{submission_id}", data=data)


def by_exercise(conn: psycopg.Connection, tenant_id: str, course_id: str, student_id: str) -> dict[str, dict]:
    """The student's record in a course per exercise id: ``attempts``, ``best_score`` (None
    until one is graded) and ``passed``; one indexed aggregate however many submissions."""
    params = {"tenant": tenant_id, "course": course_id, "student": student_id}
    rows = conn.cursor(row_factory=dict_row).execute(_BY_EXERCISE, params).fetchall()
    return {str(row.pop("exercise_id")): row for row in rows}
