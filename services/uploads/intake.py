"""A material received: its row and its ingestion job, in one transaction (both or neither)."""

from __future__ import annotations

import psycopg

from libs.jobs import queue
from libs.store import materials


def create_with_job(conn: psycopg.Connection, tenant_id: str, **fields: str | int | None) -> dict:
    """The material (``pending``) with its ingestion job queued, as the API answers it; the
    fields are :func:`libs.store.materials.create`'s. :class:`~libs.errors.NotFound` if the
    course is gone (deleted while the file was streaming)."""
    with conn.transaction():
        material = materials.create(conn, tenant_id, **fields)  # type: ignore[arg-type]
        # RETURNING ran before the job existed, so its job_id is NULL: the answer names the job
        material["job_id"] = queue.enqueue(
            conn,
            tenant_id,
            "ingest_material",
            course_id=str(fields["course_id"]),
            material_id=str(fields["material_id"]),
            payload={"material_id": str(fields["material_id"])},
        )
    return material
