"""Source materials: the one owner of the ``source_materials`` table.

Uploads, courses and the agent call these functions; nothing else writes SQL for the table.
Every query takes the tenant id explicitly: another tenant's material does not exist. Where a
material's file is stored, and how it is deleted, is :mod:`libs.store.material_objects`'.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import Conflict, NotFound
from libs.http.pagination import PageRequest, page_of
from libs.sources import urlpolicy
from libs.store import material_objects

# The vocabularies of the table's CHECK constraints (migrations/0002), declared once here for
# validation and the OpenAPI document (libs/schemas/material.py) alike.
SOURCE_TYPES = ("video", "presentation", "text", "web")
STATUSES = ("pending", "processing", "done", "error")
MAX_FILENAME = 255
SECTION_MAX = 200  # the table's CHECK (migrations/0020)
MAX_POSITION = 10_000
MAX_URL = urlpolicy.MAX_URL

# What the API shows of a material; s3_key stays inside. job_id is its latest ingestion job,
# so a client can follow it (jobs_material_idx makes the lookup an index probe).
_PUBLIC = (
    "id, course_id, source_type, source_url, filename, content_type, size_bytes, sha256, status, error_message,"
    " section, position, created_at, updated_at,"
    " (SELECT j.id FROM jobs j WHERE j.material_id = source_materials.id AND j.tenant_id = source_materials.tenant_id"
    " AND j.kind = 'ingest_material' ORDER BY j.created_at DESC LIMIT 1) AS job_id"
)
_INSERT = f"""
INSERT INTO source_materials (id, tenant_id, course_id, source_type, source_url, filename, content_type,
                              size_bytes, sha256, s3_key, section, position)
VALUES (%(id)s, %(tenant)s, %(course)s, %(source_type)s, %(source_url)s, %(filename)s, %(content_type)s,
        %(size)s, %(sha256)s, %(key)s, %(section)s, %(position)s)
RETURNING {_PUBLIC}
"""  # noqa: S608 (constants only)
# the author's order first (position), then the order they came in
_LIST = (
    f"SELECT {_PUBLIC} FROM source_materials WHERE course_id = %s AND tenant_id = %s"  # noqa: S608
    " ORDER BY position NULLS LAST, created_at, id"
)
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
_ORGANISE = """UPDATE source_materials
   SET section = CASE WHEN %(set_section)s THEN %(section)s ELSE section END,
       position = CASE WHEN %(set_position)s THEN %(position)s ELSE position END, updated_at = now()
 WHERE id = %(id)s AND course_id = %(course)s AND tenant_id = %(tenant)s RETURNING id"""
# One course's materials with the same content: the lock makes two uploads of it at once
# meet here one after the other, so the second sees the first.
_LOCK_CONTENT = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_SAME_CONTENT = """SELECT id, filename FROM source_materials
                    WHERE course_id = %s AND tenant_id = %s AND sha256 = %s ORDER BY created_at LIMIT 1"""
_RETRY = """UPDATE source_materials SET status = 'pending', error_message = NULL, updated_at = now()
             WHERE id = %s AND course_id = %s AND tenant_id = %s AND status = 'error' RETURNING id"""
_DELETE = "DELETE FROM source_materials WHERE id = %s AND course_id = %s AND tenant_id = %s RETURNING s3_key"
_COURSE_KEYS = "SELECT s3_key FROM source_materials WHERE course_id = %s AND tenant_id = %s AND s3_key IS NOT NULL"
# the foreign key (course_id, tenant_id) → courses: a material of a course that is gone
_COURSE_FK = "source_materials_course_id_tenant_id_fkey"

# --- reads --------------------------------------------------------------------------------


def list_for_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's materials, oldest first (an unknown course has none; callers that must
    answer 404 ask :func:`libs.store.courses.require`). Runs inside the caller's transaction."""
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


def exists(conn: psycopg.Connection, tenant_id: str, material_id: str) -> bool:
    """Whether the tenant has this material (deleted since, or never recorded: no)."""
    found = conn.execute("SELECT 1 FROM source_materials WHERE id = %s AND tenant_id = %s", (material_id, tenant_id))
    return found.fetchone() is not None


# --- writes -------------------------------------------------------------------------------


def create(
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
    section: str | None = None,
    position: int | None = None,
    sha256: str | None = None,
    allow_duplicate: bool = True,
) -> dict:
    """The material, ``pending``, as the API shows it (``job_id`` None until its job is queued).
    :class:`NotFound` if the course is gone: the foreign key decides, so a course deleted while
    the file streamed, even a moment before this insert, is a 404 and never a 500. Unless
    ``allow_duplicate``, :class:`Conflict` naming the course's material with the same
    ``sha256`` if there is one. Inside the caller's transaction."""
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"unknown source_type {source_type!r}")
    if sha256 is not None and not allow_duplicate:
        refuse_same_content(conn, tenant_id, course_id, sha256)
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
        "sha256": sha256,
        "section": section,
        "position": position,
    }
    try:
        with conn.transaction():  # a savepoint inside the caller's: the failure stays here
            return conn.cursor(row_factory=dict_row).execute(_INSERT, params).fetchone()
    except psycopg.errors.ForeignKeyViolation as exc:
        if exc.diag.constraint_name == _COURSE_FK:
            raise NotFound("No course with this id.") from None
        raise


def refuse_same_content(conn: psycopg.Connection, tenant_id: str, course_id: str, sha256: str) -> None:
    """:class:`Conflict` naming the course's material with this content, if there is one;
    inside a transaction, which the check's lock lasts for."""
    conn.execute(_LOCK_CONTENT, (f"material-content:{course_id}:{sha256}",))
    row = conn.execute(_SAME_CONTENT, (course_id, tenant_id, sha256)).fetchone()
    if row is not None:
        raise Conflict(
            f"This course already has this file's content, as material {row[0]} ({row[1]}). "
            "Send it again with allow_duplicate=true to keep both.",
            details={"existing_material_id": str(row[0])},
        )


def retry(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> None:
    """Move a material whose ingestion failed back to ``pending`` (its job queued by the
    caller, in the same transaction); :class:`Conflict` for a material in another status,
    :class:`NotFound` for none."""
    if conn.execute(_RETRY, (material_id, course_id, tenant_id)).fetchone() is None:
        status = get(conn, tenant_id, course_id, material_id)["status"]
        raise Conflict(f"Only a material whose ingestion failed (status error) can be retried; this one is {status}.")


def organise(
    conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str, fields: dict[str, Any]
) -> dict:
    """Set the material's ``section`` and/or ``position`` (None clears one); the material.
    :class:`NotFound` otherwise."""
    params = {
        "set_section": "section" in fields,
        "section": fields.get("section"),
        "set_position": "position" in fields,
        "position": fields.get("position"),
        "id": material_id,
        "course": course_id,
        "tenant": tenant_id,
    }
    row = conn.execute(_ORGANISE, params).fetchone()
    if row is None:
        raise NotFound("No material with this id in this course.")
    return get(conn, tenant_id, course_id, material_id)


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


def delete(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> list[str]:
    """Delete the material (its jobs and document go with it) and schedule its stored file for
    deletion, in one transaction; the keys to delete at once after the commit
    (:func:`libs.store.material_objects.delete_now`)."""
    with conn.transaction():
        row = conn.execute(_DELETE, (material_id, course_id, tenant_id)).fetchone()
        if row is None:
            raise NotFound("No material with this id in this course.")
        keys = [row[0]] if row[0] else []
        material_objects.schedule_deletion(conn, keys)
    return keys


def schedule_course_deletion(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[str]:
    """Inside the transaction that deletes the course, its row locked first (so no material can
    be added meanwhile): schedule the stored files of its materials for deletion, and return
    their keys (to delete at once after the commit)."""
    keys = [row[0] for row in conn.execute(_COURSE_KEYS, (course_id, tenant_id))]
    material_objects.schedule_deletion(conn, keys)
    return keys
