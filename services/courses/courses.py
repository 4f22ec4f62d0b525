"""Courses in SQL. Every query takes the tenant id: another tenant's course does not exist."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import Invalid, NotFound

EDITABLE = ("title", "description", "learning_goal")

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
    keys = [
        row[0]
        for row in conn.execute(
            "SELECT s3_key FROM source_materials WHERE course_id = %s AND tenant_id = %s AND s3_key IS NOT NULL",
            (course_id, tenant_id),
        )
    ]
    if conn.execute("DELETE FROM courses WHERE id = %s AND tenant_id = %s", (course_id, tenant_id)).rowcount == 0:
        raise NotFound("No course with this id.")
    return keys


def encode_cursor(created_at: datetime, course_id: object) -> str:
    raw = json.dumps([created_at.isoformat(), str(course_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, course_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), str(uuid.UUID(course_id))
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise Invalid("cursor: not a cursor this API returned", field="cursor") from None


def page(conn: psycopg.Connection, tenant_id: str, *, limit: int, cursor: str | None) -> dict:
    """Newest first, by keyset: stable under concurrent inserts, no duplicates or gaps."""
    cur = conn.cursor(row_factory=dict_row)
    if cursor:
        created_at, after_id = decode_cursor(cursor)
        rows = cur.execute(_NEXT_PAGE, (tenant_id, created_at, after_id, limit + 1)).fetchall()
    else:
        rows = cur.execute(_FIRST_PAGE, (tenant_id, limit + 1)).fetchall()
    total = conn.execute("SELECT count(*) FROM courses WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1]["created_at"], items[-1]["id"]) if len(rows) > limit else None
    return {"items": items, "total": total, "limit": limit, "next_cursor": next_cursor}
