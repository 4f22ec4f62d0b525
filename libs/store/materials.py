"""Source materials: the one owner of the ``source_materials`` table and of their S3 keys.

Uploads, courses and the agent call these functions; nothing else writes SQL for the table
or builds a material's object key. Every query takes the tenant id explicitly: another
tenant's material does not exist.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.http.pagination import PageRequest, page_of
from libs.jobs import queue
from libs.platform.storage import Storage
from libs.sources import urlpolicy
from libs.store import courses

log = logging.getLogger(__name__)

# The vocabularies of the table's CHECK constraints (migrations/0002), declared once here for
# validation and the OpenAPI document alike.
SOURCE_TYPES = ("video", "presentation", "text", "web")
STATUSES = ("pending", "processing", "done", "error")
MAX_FILENAME = 255
MAX_URL = urlpolicy.MAX_URL

# What the API shows of a material; s3_key stays inside. job_id is its latest ingestion job,
# so a client can follow it (jobs_material_idx makes the lookup an index probe).
_PUBLIC = (
    "id, course_id, source_type, source_url, filename, content_type, size_bytes, status, error_message,"
    " created_at, updated_at,"
    " (SELECT j.id FROM jobs j WHERE j.material_id = source_materials.id AND j.tenant_id = source_materials.tenant_id"
    " AND j.kind = 'ingest_material' ORDER BY j.created_at DESC LIMIT 1) AS job_id"
)
_NULLABLE_STRING = {"type": "string", "nullable": True}
_TIMESTAMP = {"type": "string", "format": "date-time"}
MATERIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "course_id": {"type": "string", "format": "uuid"},
        "source_type": {"type": "string", "enum": list(SOURCE_TYPES)},
        "source_url": _NULLABLE_STRING,
        "filename": _NULLABLE_STRING,
        "content_type": _NULLABLE_STRING,
        "size_bytes": {"type": "integer", "nullable": True},
        "status": {"type": "string", "enum": list(STATUSES)},
        "error_message": _NULLABLE_STRING,
        "created_at": _TIMESTAMP,
        "updated_at": _TIMESTAMP,
        "job_id": {"type": "string", "format": "uuid", "nullable": True, "description": "Its ingestion job"},
    },
    "required": [
        "id",
        "course_id",
        "source_type",
        "source_url",
        "filename",
        "content_type",
        "size_bytes",
        "status",
        "error_message",
        "created_at",
        "updated_at",
        "job_id",
    ],
}

_INSERT = f"""
INSERT INTO source_materials (id, tenant_id, course_id, source_type, source_url, filename, content_type,
                              size_bytes, s3_key)
VALUES (%(id)s, %(tenant)s, %(course)s, %(source_type)s, %(source_url)s, %(filename)s, %(content_type)s,
        %(size)s, %(key)s)
RETURNING {_PUBLIC}
"""  # noqa: S608 (constants only)
_LIST = f"SELECT {_PUBLIC} FROM source_materials WHERE course_id = %s AND tenant_id = %s ORDER BY created_at, id"  # noqa: S608
_FIRST_PAGE = (
    f"SELECT {_PUBLIC} FROM source_materials WHERE course_id = %s AND tenant_id = %s"  # noqa: S608
    " ORDER BY created_at, id LIMIT %s"
)
_NEXT_PAGE = (
    f"SELECT {_PUBLIC} FROM source_materials WHERE course_id = %s AND tenant_id = %s"  # noqa: S608
    " AND (created_at, id) > (%s, %s) ORDER BY created_at, id LIMIT %s"
)
_COUNT = "SELECT count(*) FROM source_materials WHERE course_id = %s AND tenant_id = %s"
_GET = f"SELECT {_PUBLIC} FROM source_materials WHERE id = %s AND course_id = %s AND tenant_id = %s"  # noqa: S608
_LOAD = f"SELECT {_PUBLIC}, s3_key FROM source_materials WHERE id = %s AND tenant_id = %s"  # noqa: S608
_SET_STATUS = (
    "UPDATE source_materials SET status = %s, error_message = %s, updated_at = now() WHERE id = %s AND tenant_id = %s"
)
_DELETE = "DELETE FROM source_materials WHERE id = %s AND course_id = %s AND tenant_id = %s RETURNING s3_key"
_COURSE_KEYS = "SELECT s3_key FROM source_materials WHERE course_id = %s AND tenant_id = %s AND s3_key IS NOT NULL"

# --- S3 key layout ------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(filename: str) -> str:
    """A file name that can never leave its key prefix: the last path segment, ASCII letters,
    digits, dot, dash and underscore only, no leading dots, at most 120 characters."""
    last = re.split(r"[\\/]", filename)[-1]
    cleaned = _UNSAFE.sub("_", last).lstrip("._")[-120:]
    return cleaned or "file"


# Every material's object lies under this prefix (the sweep of abandoned uploads lists it).
ROOT_PREFIX = "tenants/"


def course_prefix(tenant_id: str, course_id: str) -> str:
    """The key prefix under which every object of a course's materials lives."""
    return f"{ROOT_PREFIX}{tenant_id}/courses/{course_id}/materials/"


def object_key(tenant_id: str, course_id: str, material_id: str, filename: str) -> str:
    """Where a material's file is stored: under its tenant, course and material id, so keys
    never collide and a course's objects share one prefix."""
    return f"{course_prefix(tenant_id, course_id)}{material_id}/{safe_name(filename)}"


# --- reads --------------------------------------------------------------------------------


def require_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    """:class:`NotFound` unless the tenant has this course (materials hang under a course)."""
    courses.require(conn, tenant_id, course_id)


def list_for_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's materials, oldest first (an unknown course has none; callers that must
    answer 404 call :func:`require_course`). Runs inside the caller's transaction, if any."""
    return conn.cursor(row_factory=dict_row).execute(_LIST, (course_id, tenant_id)).fetchall()


def page(conn: psycopg.Connection, tenant_id: str, course_id: str, request: PageRequest) -> dict:
    """One page of the course's materials, oldest first, by keyset (see :mod:`libs.http.pagination`):
    ``{items, total, limit, next_cursor}``."""
    cur = conn.cursor(row_factory=dict_row)
    if request.after:
        created_at, after_id = request.after
        rows = cur.execute(_NEXT_PAGE, (course_id, tenant_id, created_at, after_id, request.fetch)).fetchall()
    else:
        rows = cur.execute(_FIRST_PAGE, (course_id, tenant_id, request.fetch)).fetchall()
    total = conn.execute(_COUNT, (course_id, tenant_id)).fetchone()[0]
    return page_of(rows, request, total)


def get(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> dict:
    """One material of the course, as the API shows it; :class:`NotFound` otherwise."""
    row = conn.cursor(row_factory=dict_row).execute(_GET, (material_id, course_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No material with this id in this course.")
    return row


def load(conn: psycopg.Connection, tenant_id: str, material_id: str) -> dict:
    """One material by id with its ``s3_key`` (``None`` for a URL material): what an ingestion
    worker needs to read it. :class:`NotFound` if the tenant has no such material."""
    row = conn.cursor(row_factory=dict_row).execute(_LOAD, (material_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No material with this id.")
    return row


def keys_of_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[str]:
    """The S3 keys of a course's stored files (to delete them with the course)."""
    return [row[0] for row in conn.execute(_COURSE_KEYS, (course_id, tenant_id))]


# --- writes -------------------------------------------------------------------------------


def create_with_job(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    material_id: str,
    course_id: str,
    source_type: str,
    source_url: str | None,
    filename: str | None,
    content_type: str | None,
    size: int | None,
    key: str | None,
) -> dict:
    """The material (pending) and its ingestion job, in one transaction: both or neither.
    :class:`NotFound` if the course is gone (deleted while the file was streaming)."""
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"unknown source_type {source_type!r}")
    with conn.transaction():
        require_course(conn, tenant_id, course_id)
        params = {
            "id": material_id,
            "tenant": tenant_id,
            "course": course_id,
            "source_type": source_type,
            "source_url": source_url,
            "filename": filename,
            "content_type": content_type,
            "size": size,
            "key": key,
        }
        material = conn.cursor(row_factory=dict_row).execute(_INSERT, params).fetchone()
        # RETURNING ran before the job existed, so its job_id is NULL: the answer names the job
        material["job_id"] = queue.enqueue(
            conn,
            tenant_id,
            "ingest_material",
            course_id=course_id,
            material_id=material_id,
            payload={"material_id": material_id},
        )
    return material


def set_status(
    conn: psycopg.Connection, tenant_id: str, material_id: str, status: str, error_message: str | None = None
) -> None:
    """Move a material to ``status`` (one of :data:`STATUSES`); ``error_message`` is kept for
    ``error`` and cleared otherwise. :class:`NotFound` if the tenant has no such material."""
    if status not in STATUSES:
        raise ValueError(f"unknown material status {status!r}")
    message = error_message if status == "error" else None
    if conn.execute(_SET_STATUS, (status, message, material_id, tenant_id)).rowcount == 0:
        raise NotFound("No material with this id.")


def delete(conn: psycopg.Connection, storage: Storage, tenant_id: str, course_id: str, material_id: str) -> None:
    """Delete the material (its jobs go with it), then its stored file. The row goes first: a
    file left behind by a storage failure is logged and harmless, a row without its file is not."""
    row = conn.execute(_DELETE, (material_id, course_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No material with this id in this course.")
    if row[0]:
        delete_objects(storage, [row[0]])


def delete_objects(storage: Storage, keys: list[str]) -> None:
    """Delete stored files whose rows are gone; a failure is logged, not raised, since the
    material no longer exists for the client either way."""
    if not keys:
        return
    try:
        storage.delete_objects(keys)
    except Exception:
        log.exception("materials deleted but %d stored objects remain, first %s", len(keys), keys[0])
