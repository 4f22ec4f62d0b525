"""Materials and their ingestion jobs in SQL; every query takes the tenant id."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from libs.errors import NotFound

_INSERT = """
INSERT INTO source_materials (id, tenant_id, course_id, source_type, source_url, filename, content_type,
                              size_bytes, s3_key)
VALUES (%(id)s, %(tenant)s, %(course)s, %(source_type)s, %(source_url)s, %(filename)s, %(content_type)s,
        %(size)s, %(key)s)
RETURNING id, course_id, source_type, source_url, filename, content_type, size_bytes, status, error_message,
          created_at, updated_at
"""
_LIST = """
SELECT id, course_id, source_type, source_url, filename, content_type, size_bytes, status, error_message,
       created_at, updated_at
  FROM source_materials WHERE course_id = %s AND tenant_id = %s ORDER BY created_at, id
"""
_GET = """
SELECT id, course_id, source_type, source_url, filename, content_type, size_bytes, status, error_message,
       created_at, updated_at
  FROM source_materials WHERE id = %s AND course_id = %s AND tenant_id = %s
"""


def require_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    if (
        conn.execute("SELECT 1 FROM courses WHERE id = %s AND tenant_id = %s", (course_id, tenant_id)).fetchone()
        is None
    ):
        raise NotFound("No course with this id.")


def create_with_job(
    conn: psycopg.Connection,
    *,
    material_id: str,
    tenant_id: str,
    course_id: str,
    source_type: str,
    source_url: str | None,
    filename: str | None,
    content_type: str | None,
    size: int | None,
    key: str | None,
) -> dict:
    """The material (pending) and its ingestion job, in one transaction: both or neither."""
    with conn.transaction():
        require_course(conn, tenant_id, course_id)
        material = (
            conn.cursor(row_factory=dict_row)
            .execute(
                _INSERT,
                {
                    "id": material_id,
                    "tenant": tenant_id,
                    "course": course_id,
                    "source_type": source_type,
                    "source_url": source_url,
                    "filename": filename,
                    "content_type": content_type,
                    "size": size,
                    "key": key,
                },
            )
            .fetchone()
        )
        conn.execute(
            "INSERT INTO jobs (tenant_id, course_id, material_id, kind, payload) "
            "VALUES (%s, %s, %s, 'ingest_material', %s)",
            (tenant_id, course_id, material_id, Jsonb({"material_id": material_id})),
        )
    return material


def list_for_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    require_course(conn, tenant_id, course_id)
    return conn.cursor(row_factory=dict_row).execute(_LIST, (course_id, tenant_id)).fetchall()


def get(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> dict:
    row = conn.cursor(row_factory=dict_row).execute(_GET, (material_id, course_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No material with this id in this course.")
    return row


def delete(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> str | None:
    """Delete the material (its jobs go with it); return its S3 key, if it has one."""
    row = conn.execute(
        "DELETE FROM source_materials WHERE id = %s AND course_id = %s AND tenant_id = %s RETURNING s3_key",
        (material_id, course_id, tenant_id),
    ).fetchone()
    if row is None:
        raise NotFound("No material with this id in this course.")
    return row[0]
