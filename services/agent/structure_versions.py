"""The one owner of ``structure_versions``: a snapshot of every successful structure run of a
course (its job, model, cost, counts and the document as it was)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from libs.errors import NotFound
from libs.http.encoding import json_default
from libs.store import courses

_SUMMARY = "version, job_id, model, cost_usd, counts, created_at"
_TIMESTAMP = {"type": "string", "format": "date-time"}
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "job_id", "model", "cost_usd", "counts", "created_at"],
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "job_id": {"type": "string", "format": "uuid", "nullable": True},
        "model": {"type": "string", "nullable": True},
        "cost_usd": {"type": "number", "minimum": 0},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "created_at": _TIMESTAMP,
    },
}
VERSION_SCHEMA: dict[str, Any] = {
    **SUMMARY_SCHEMA,
    "required": [*SUMMARY_SCHEMA["required"], "document"],
    "properties": {**SUMMARY_SCHEMA["properties"], "document": {"type": "object"}},
}


def record(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    *,
    job_id: str | None,
    model: str | None,
    cost_usd: Decimal,
    counts: dict[str, int],
    document: dict,
    inputs: str | None = None,
) -> int:
    """Keep a snapshot as the course's next version; return its number. Run it in the
    transaction that saved the structure; the course row lock serialises version numbers."""
    courses.require(conn, tenant_id, course_id, lock=True)
    return conn.execute(
        "INSERT INTO structure_versions (tenant_id, course_id, version, job_id, model, cost_usd, counts, document,"
        " inputs) SELECT %s, %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s"
        " FROM structure_versions WHERE course_id = %s AND tenant_id = %s RETURNING version",
        (
            tenant_id,
            course_id,
            job_id,
            model,
            cost_usd,
            Jsonb(counts),
            Jsonb(document, dumps=_dumps),
            inputs,
            course_id,
            tenant_id,
        ),
    ).fetchone()[0]


def latest_with_inputs(conn: psycopg.Connection, tenant_id: str, course_id: str) -> tuple[dict, str | None] | None:
    """The newest version's summary and the fingerprint of the run's inputs
    (services/agent/architect/inputs.py); None before the first run."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_SUMMARY}, inputs FROM structure_versions"  # noqa: S608
            " WHERE course_id = %s AND tenant_id = %s ORDER BY version DESC LIMIT 1",
            (course_id, tenant_id),
        )
        .fetchone()
    )
    return None if row is None else (row, row.pop("inputs"))


def page(conn: psycopg.Connection, tenant_id: str, course_id: str, *, after: int, limit: int) -> list[dict]:
    """Summaries of versions after ``after`` (0 for the first page), oldest first."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_SUMMARY} FROM structure_versions WHERE course_id = %s AND tenant_id = %s"  # noqa: S608
            " AND version > %s ORDER BY version LIMIT %s",
            (course_id, tenant_id, after, limit),
        )
        .fetchall()
    )


def count(conn: psycopg.Connection, tenant_id: str, course_id: str) -> int:
    """How many versions the course has."""
    return conn.execute(
        "SELECT count(*) FROM structure_versions WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id)
    ).fetchone()[0]


def get(conn: psycopg.Connection, tenant_id: str, course_id: str, version: int) -> dict:
    """One version with its document; :class:`NotFound` otherwise."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_SUMMARY}, document FROM structure_versions"  # noqa: S608
            " WHERE course_id = %s AND tenant_id = %s AND version = %s",
            (course_id, tenant_id, version),
        )
        .fetchone()
    )
    if row is None:
        raise NotFound("No structure version with this number for this course.")
    return row


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_default)  # the document holds UUIDs and timestamps
