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
from libs.store import courses, structure

_SUMMARY = "version, origin, instructions, restored_from, job_id, model, cost_usd, counts, created_at"
# Where a version came from; the table's CHECK (migrations/0016) repeats it.
ORIGINS = ("run", "refine", "restore", "edits")
_TIMESTAMP = {"type": "string", "format": "date-time"}
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "version",
        "origin",
        "instructions",
        "restored_from",
        "job_id",
        "model",
        "cost_usd",
        "counts",
        "created_at",
    ],
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "origin": {
            "type": "string",
            "enum": list(ORIGINS),
            "description": "A structure run, a refine, a restore, or the author's edits kept before a run or restore",
        },
        "instructions": {"type": "string", "nullable": True, "description": "A refine's instructions"},
        "restored_from": {"type": "integer", "nullable": True, "description": "The version a restore brought back"},
        "job_id": {"type": "string", "format": "uuid", "nullable": True},
        "model": {"type": "string", "nullable": True},
        "cost_usd": {"type": "number", "minimum": 0},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "created_at": _TIMESTAMP,
    },
}
SUMMARY_SCHEMA["required"] = list(SUMMARY_SCHEMA["properties"])
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
    origin: str = "run",
    instructions: str | None = None,
    restored_from: int | None = None,
) -> int:
    """Keep a snapshot as the course's next version; return its number. Run it in the
    transaction that saved the structure; the course row lock serialises version numbers."""
    courses.require(conn, tenant_id, course_id, lock=True)
    return conn.execute(
        "INSERT INTO structure_versions (tenant_id, course_id, version, job_id, model, cost_usd, counts, document,"
        " inputs, origin, instructions, restored_from)"
        " SELECT %s, %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s, %s"
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
            origin,
            instructions,
            restored_from,
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


def snapshot(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    """The course's structure as it stands, as a version holds it: the course's own fields and
    the modules with their ids (no embeddings: 1536 floats per concept would dwarf the rest)."""
    course = courses.get(conn, tenant_id, course_id)
    fields = {name: course[name] for name in (*courses.EDITABLE, *courses.STRUCTURE_FIELDS)}
    return json.loads(_dumps({"course": fields, "modules": structure.read(conn, tenant_id, course_id)}))


def keep_edits(conn: psycopg.Connection, tenant_id: str, course_id: str) -> int | None:
    """Before a run or a restore replaces the structure: when it differs from the newest
    version (the author edited it since), keep it as a version of origin ``edits``, so no
    edit is lost without a version that holds it. Its number, or None when nothing was kept."""
    now = snapshot(conn, tenant_id, course_id)
    newest = conn.execute(
        "SELECT document FROM structure_versions WHERE course_id = %s AND tenant_id = %s ORDER BY version DESC LIMIT 1",
        (course_id, tenant_id),
    ).fetchone()
    if newest is None and not now["modules"]:
        return None
    if newest is not None and _comparable(newest[0]) == _comparable(now):
        return None
    return record(
        conn,
        tenant_id,
        course_id,
        job_id=None,
        model=None,
        cost_usd=Decimal(0),
        counts=counts(now),
        document=now,
        origin="edits",
    )


def _comparable(document: dict) -> dict:
    """A document as JSON reads it back (UUIDs and timestamps as strings), to compare with."""
    return json.loads(_dumps(document))


def counts(document: dict) -> dict[str, int]:
    """How many modules, lessons, concepts and exercises a document holds."""
    lessons = [lesson for module in document["modules"] for lesson in module["lessons"]]
    return {
        "modules": len(document["modules"]),
        "lessons": len(lessons),
        "concepts": sum(len(lesson["concepts"]) for lesson in lessons),
        "exercises": sum(len(lesson["exercises"]) for lesson in lessons),
    }
