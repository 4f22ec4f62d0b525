"""Direct uploads in progress: the one owner of the ``material_uploads`` table (migrations/0022).

A row lives from the presign to the completion (it becomes a material) or the end (abort,
refusal, expiry). Its bytes are reserved against the tenant's quota under the same id
(:mod:`libs.store.storage_usage`). An upload that ends without becoming a material has its
object scheduled for deletion once its URLs have expired (:mod:`libs.store.material_objects`),
since until then a client holding one could still PUT it.
The uploads service writes the table; deleting a course ends its uploads here too.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from libs.errors import Conflict, NotFound
from libs.store import material_objects, storage_usage

# What may follow the last moment an upload may run: a read the gateway holds for up to its
# client_body_timeout, parts in flight, the completion; and the clocks of this host and of S3
# disagreeing. The streamed path's sweep and the direct path's expiry both wait this long.
SETTLE_SECONDS = 300

_COLUMNS = (
    "id, tenant_id, course_id, material_id, source_type, filename, size_bytes, sha256, section, position,"
    " allow_duplicate, s3_key, s3_upload_id, part_size, expires_at, created_at"
)
_INSERT = f"""
INSERT INTO material_uploads (id, tenant_id, course_id, material_id, source_type, filename, size_bytes, sha256,
                              section, position, allow_duplicate, s3_key, s3_upload_id, part_size, expires_at)
VALUES (%(id)s, %(tenant_id)s, %(course_id)s, %(material_id)s, %(source_type)s, %(filename)s, %(size_bytes)s,
        %(sha256)s, %(section)s, %(position)s, %(allow_duplicate)s, %(s3_key)s, %(s3_upload_id)s, %(part_size)s,
        %(expires_at)s)
RETURNING {_COLUMNS}
"""  # noqa: S608 (constants only)
_GET = f"SELECT {_COLUMNS} FROM material_uploads WHERE id = %s AND course_id = %s AND tenant_id = %s"  # noqa: S608
# A completion claims the upload for a while, so a second one at once is refused, not doubled.
_CLAIM = f"""UPDATE material_uploads SET completing_until = now() + make_interval(secs => %s)
              WHERE id = %s AND course_id = %s AND tenant_id = %s
                AND (completing_until IS NULL OR completing_until < now())
          RETURNING {_COLUMNS}"""  # noqa: S608 (constants only)
_UNCLAIM = "UPDATE material_uploads SET completing_until = NULL WHERE id = %s AND tenant_id = %s"
_DELETE = "DELETE FROM material_uploads WHERE id = %s AND tenant_id = %s RETURNING s3_key, expires_at"
_EXPIRED = f"""SELECT {_COLUMNS} FROM material_uploads
                WHERE expires_at < now() - make_interval(secs => %s)
                  AND (completing_until IS NULL OR completing_until < now())
                ORDER BY expires_at LIMIT %s"""  # noqa: S608 (constants only)
_OF_COURSE = "SELECT id, s3_key, expires_at FROM material_uploads WHERE course_id = %s AND tenant_id = %s"


def create(conn: psycopg.Connection, **fields: object) -> dict:
    """Record an upload whose URLs were made (fields: the table's columns); the row."""
    return conn.cursor(row_factory=dict_row).execute(_INSERT, fields).fetchone()


def get(conn: psycopg.Connection, tenant_id: str, course_id: str, upload_id: str) -> dict:
    """The course's upload in progress; :class:`NotFound` otherwise (another tenant's, done, ended)."""
    row = conn.cursor(row_factory=dict_row).execute(_GET, (upload_id, course_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No upload in progress with this id in this course.")
    return row


def claim(conn: psycopg.Connection, tenant_id: str, course_id: str, upload_id: str, seconds: float) -> dict:
    """The upload, claimed for a completion of at most ``seconds``; :class:`Conflict` while
    another completion holds it, :class:`NotFound` when there is none."""
    row = conn.cursor(row_factory=dict_row).execute(_CLAIM, (seconds, upload_id, course_id, tenant_id)).fetchone()
    if row is None:
        get(conn, tenant_id, course_id, upload_id)  # NotFound, or:
        raise Conflict("This upload is being completed already; follow that request.")
    return row


def unclaim(conn: psycopg.Connection, tenant_id: str, upload_id: str) -> None:
    """Let the upload be completed again (its object was not there yet)."""
    conn.execute(_UNCLAIM, (upload_id, tenant_id))


def remove(conn: psycopg.Connection, tenant_id: str, upload_id: str) -> None:
    """End the upload, inside the caller's transaction: its row and reservation go, and its
    object is scheduled for deletion once its URLs expire and SETTLE_SECONDS more."""
    row = conn.execute(_DELETE, (upload_id, tenant_id)).fetchone()
    if row is None:
        return  # ended already, by a concurrent abort or the janitor
    _schedule(conn, row[0], row[1])
    storage_usage.release(conn, tenant_id, upload_id)


def finish(conn: psycopg.Connection, tenant_id: str, upload_id: str) -> None:
    """The upload became a material: its row goes, inside the transaction that records the
    material (which releases the reservation)."""
    conn.execute(_DELETE, (upload_id, tenant_id))


def expired(conn: psycopg.Connection, *, batch: int = 100) -> list[dict]:
    """Uploads of any tenant whose URLs expired more than SETTLE_SECONDS ago and that no
    completion holds: for the janitor to end."""
    return conn.cursor(row_factory=dict_row).execute(_EXPIRED, (SETTLE_SECONDS, batch)).fetchall()


def end_for_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    """Inside the transaction that deletes the course: its uploads' reservations go and their
    objects are scheduled for deletion (the rows go with the course)."""
    for upload_id, key, expires_at in conn.execute(_OF_COURSE, (course_id, tenant_id)).fetchall():
        _schedule(conn, key, expires_at)
        storage_usage.release(conn, tenant_id, str(upload_id))


def _schedule(conn: psycopg.Connection, key: str, expires_at: datetime) -> None:
    material_objects.schedule_deletion(conn, [key], not_before=expires_at, delay_seconds=SETTLE_SECONDS)
