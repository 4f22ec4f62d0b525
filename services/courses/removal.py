"""Removing a course with everything under it, its stored files included.

The course's row is locked before its materials are read: a material being added waits for the
lock (its foreign key check) and then finds the course gone, so no object can be added behind
the reading's back. Its files are scheduled for deletion in the same transaction that deletes
the rows, and deleted at once after the commit; what S3 refuses then (S3 down) the uploads
service's janitor deletes once it answers.
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs.platform.db import retry_on_deadlock
from libs.platform.storage import Storage
from libs.store import courses, material_objects, material_uploads, materials


def remove_course(pool: ConnectionPool, storage: Storage, tenant_id: str, course_id: str) -> None:
    """Delete the tenant's course, every row under it and its stored files;
    :class:`~libs.errors.NotFound` for another tenant's or an unknown course."""

    def delete() -> list[str]:
        with pool.connection() as conn, conn.transaction():
            courses.require(conn, tenant_id, course_id, lock=True)
            keys = materials.schedule_course_deletion(conn, tenant_id, course_id)
            material_uploads.end_for_course(conn, tenant_id, course_id)
            courses.delete(conn, tenant_id, course_id)
            return keys

    # the rows cascade through materials an ingestion may be writing the other way round
    keys = retry_on_deadlock(delete)
    material_objects.delete_now(pool, storage, keys)
