"""Courses in SQL. Every query takes the tenant id: another tenant's course does not exist."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs import materials
from libs.errors import NotFound
from libs.pagination import PageRequest, page_of
from services.courses.schemas import COURSE_INPUT

EDITABLE = tuple(COURSE_INPUT.fields)

_RETURNING = (
    " RETURNING id, title, description, learning_goal, expected_knowledge, expected_skills, revision,"
    " created_at, updated_at"
)
_SELECT = (
    "SELECT id, title, description, learning_goal, expected_knowledge, expected_skills, revision,"
    " created_at, updated_at FROM courses"
)
_INSERT = "INSERT INTO courses (tenant_id, title, description, learning_goal) VALUES (%s, %s, %s, %s)" + _RETURNING  # noqa: S608 (constants only)
_GET = _SELECT + " WHERE id = %s AND tenant_id = %s"
# One static statement for any subset of fields: a flag per field says whether to set it.
_UPDATE = (
    "UPDATE courses SET"
    " title = CASE WHEN %(set_title)s THEN %(title)s ELSE title END,"
    " description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,"
    " learning_goal = CASE WHEN %(set_learning_goal)s THEN %(learning_goal)s ELSE learning_goal END,"
    " revision = revision + 1, updated_at = now()"
    " WHERE id = %(id)s AND tenant_id = %(tenant)s" + _RETURNING
)
_FIRST_PAGE = _SELECT + " WHERE tenant_id = %s ORDER BY created_at DESC, id DESC LIMIT %s"
_NEXT_PAGE = (
    _SELECT + " WHERE tenant_id = %s AND (created_at, id) < (%s, %s) ORDER BY created_at DESC, id DESC LIMIT %s"
)


def create(conn: psycopg.Connection, tenant_id: str, fields: dict[str, Any]) -> dict:
    params = (tenant_id, fields["title"], fields.get("description"), fields.get("learning_goal"))
    return conn.cursor(row_factory=dict_row).execute(_INSERT, params).fetchone()


def get(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    row = conn.cursor(row_factory=dict_row).execute(_GET, (course_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No course with this id.")
    return row


def update(conn: psycopg.Connection, tenant_id: str, course_id: str, fields: dict[str, Any]) -> dict:
    params: dict[str, Any] = {"id": course_id, "tenant": tenant_id}
    for name in EDITABLE:
        params[f"set_{name}"] = name in fields
        params[name] = fields.get(name)
    row = conn.cursor(row_factory=dict_row).execute(_UPDATE, params).fetchone()
    if row is None:
        raise NotFound("No course with this id.")
    return row


def delete(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[str]:
    """Delete the course and everything under it; return the S3 keys of its materials."""
    keys = materials.keys_of_course(conn, tenant_id, course_id)
    if conn.execute("DELETE FROM courses WHERE id = %s AND tenant_id = %s", (course_id, tenant_id)).rowcount == 0:
        raise NotFound("No course with this id.")
    return keys


def page(conn: psycopg.Connection, tenant_id: str, request: PageRequest) -> dict:
    """Newest first, by keyset (see :mod:`libs.pagination`)."""
    cur = conn.cursor(row_factory=dict_row)
    if request.after:
        created_at, after_id = request.after
        rows = cur.execute(_NEXT_PAGE, (tenant_id, created_at, after_id, request.fetch)).fetchall()
    else:
        rows = cur.execute(_FIRST_PAGE, (tenant_id, request.fetch)).fetchall()
    total = conn.execute("SELECT count(*) FROM courses WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    return page_of(rows, request, total)
