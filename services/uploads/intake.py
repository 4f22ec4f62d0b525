"""A material received: its row and its ingestion job, in one transaction (both or neither);
and a failed material's ingestion queued again."""

from __future__ import annotations

import psycopg

from libs.jobs import queue
from libs.store import materials, storage_usage


def _queue_ingestion(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> str:
    return queue.enqueue(
        conn,
        tenant_id,
        "ingest_material",
        course_id=course_id,
        material_id=material_id,
        payload={"material_id": material_id},
    )


def create_with_job(
    conn: psycopg.Connection, tenant_id: str, *, reservation: str | None = None, **fields: str | int | bool | None
) -> dict:
    """The material (``pending``) with its ingestion job queued, as the API answers it; the
    fields are :func:`libs.store.materials.create`'s. The storage ``reservation`` its upload
    held gives way to it. :class:`~libs.errors.NotFound` if the course is gone (deleted while
    the file was streaming); :class:`~libs.errors.Conflict` for a duplicate refused."""
    with conn.transaction():
        material = materials.create(conn, tenant_id, **fields)  # type: ignore[arg-type]
        # RETURNING ran before the job existed, so its job_id is NULL: the answer names the job
        material["job_id"] = _queue_ingestion(conn, tenant_id, str(fields["course_id"]), str(fields["material_id"]))
        if reservation is not None:
            storage_usage.release(conn, tenant_id, reservation)
    return material


def retry_with_job(conn: psycopg.Connection, tenant_id: str, course_id: str, material_id: str) -> dict:
    """A material whose ingestion failed, ``pending`` again with a new ingestion job (which
    rebuilds its document from the stored file); :class:`~libs.errors.Conflict` for a
    material in another status."""
    with conn.transaction():
        materials.retry(conn, tenant_id, course_id, material_id)
        _queue_ingestion(conn, tenant_id, course_id, material_id)
        return materials.get(conn, tenant_id, course_id, material_id)
