"""What each tenant stores, against its quota: the owner of ``tenants.storage_quota_bytes``
and of ``storage_reservations`` (migrations/0021).

A tenant's usage is the size of its stored material files plus what uploads still in flight
have reserved. An upload reserves its bytes before the first of them is stored, under a lock
on the tenant's row, so two uploads at once cannot both fit in the room only one has; its
material takes the reservation's place in the transaction that records it. A reservation a
dead process left behind lapses at its ``expires_at`` (the longest the upload may take).
The uploads service reserves and reports; the admin CLI sets quotas.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound, QuotaExceeded
from libs.http.pagination import PageRequest, page_of
from libs.platform.settings import MAX_STORAGE_QUOTA_BYTES
from libs.store.materials import STATUSES

UNLIMITED = 0

# FOR NO KEY UPDATE: reservations of one tenant queue here, while rows that merely reference
# the tenant (keys, jobs) are not held up.
_LOCK_QUOTA = "SELECT storage_quota_bytes FROM tenants WHERE id = %s FOR NO KEY UPDATE"
_QUOTA = "SELECT storage_quota_bytes FROM tenants WHERE id = %s"
_SET_QUOTA = "UPDATE tenants SET storage_quota_bytes = %s WHERE id = %s"
_LAPSED = "DELETE FROM storage_reservations WHERE tenant_id = %s AND expires_at < now()"
_STORED = """SELECT coalesce(sum(size_bytes), 0)::bigint FROM source_materials
              WHERE tenant_id = %s AND source_url IS NULL"""
_RESERVED = """SELECT coalesce(sum(bytes), 0)::bigint FROM storage_reservations
                WHERE tenant_id = %s AND expires_at >= now()"""
_RESERVE = """INSERT INTO storage_reservations (id, tenant_id, bytes, expires_at)
              VALUES (%s, %s, %s, now() + make_interval(secs => %s))"""
_RELEASE = "DELETE FROM storage_reservations WHERE id = %s AND tenant_id = %s"
# A material with a file is an object; one from a URL stores nothing.
_TOTALS = """SELECT coalesce(sum(size_bytes) FILTER (WHERE source_url IS NULL), 0)::bigint AS bytes,
                    count(*) FILTER (WHERE source_url IS NULL) AS objects, status, count(*) AS materials
               FROM source_materials WHERE tenant_id = %s GROUP BY status"""
_COURSES = """SELECT c.id, c.title, c.created_at,
                     coalesce(sum(m.size_bytes) FILTER (WHERE m.source_url IS NULL), 0)::bigint AS bytes,
                     count(m.id) FILTER (WHERE m.source_url IS NULL) AS objects, count(m.id) AS materials
                FROM courses c LEFT JOIN source_materials m ON m.course_id = c.id AND m.tenant_id = c.tenant_id
               WHERE c.tenant_id = %(tenant)s AND (c.created_at, c.id) > (%(after_at)s, %(after_id)s)
               GROUP BY c.id ORDER BY c.created_at, c.id LIMIT %(fetch)s"""
_COURSE_COUNT = "SELECT count(*) FROM courses WHERE tenant_id = %s"
_BEFORE_ALL = ("-infinity", "00000000-0000-0000-0000-000000000000")


def _quota(stored: int | None, default: int) -> int:
    return default if stored is None else stored


def quota(conn: psycopg.Connection, tenant_id: str, default: int) -> int:
    """The tenant's quota in bytes (``default``, the setting, unless one was set; 0: unlimited)."""
    row = conn.execute(_QUOTA, (tenant_id,)).fetchone()
    if row is None:
        raise NotFound("No tenant with this id.")
    return _quota(row[0], default)


def used(conn: psycopg.Connection, tenant_id: str) -> tuple[int, int]:
    """The tenant's stored bytes and the bytes its uploads in flight reserved."""
    return conn.execute(_STORED, (tenant_id,)).fetchone()[0], conn.execute(_RESERVED, (tenant_id,)).fetchone()[0]


def reserve(
    conn: psycopg.Connection, tenant_id: str, reservation_id: str, size: int, *, seconds: float, default: int
) -> bool:
    """Reserve ``size`` bytes for ``seconds`` under ``reservation_id``, or raise
    :class:`QuotaExceeded` with what is used and allowed. False (nothing reserved) when the
    tenant's quota is unlimited: there is nothing to keep count for."""
    with conn.transaction():
        row = conn.execute(_LOCK_QUOTA, (tenant_id,)).fetchone()
        if row is None:
            raise NotFound("No tenant with this id.")
        limit = _quota(row[0], default)
        if limit == UNLIMITED:
            return False
        conn.execute(_LAPSED, (tenant_id,))
        stored, reserved = used(conn, tenant_id)
        if stored + reserved + size > limit:
            raise QuotaExceeded(
                f"Storing {size} more bytes would pass this tenant's storage quota of {limit} bytes: "
                f"{stored} are stored and {reserved} reserved by uploads in progress. "
                "Delete materials or ask the operator for a larger quota.",
                details={
                    "quota_bytes": limit,
                    "used_bytes": stored,
                    "reserved_bytes": reserved,
                    "requested_bytes": size,
                },
            )
        conn.execute(_RESERVE, (reservation_id, tenant_id, size, seconds))
    return True


def release(conn: psycopg.Connection, tenant_id: str, reservation_id: str) -> None:
    """Drop a reservation (its upload failed, or its material now counts instead); inside the
    caller's transaction when there is one."""
    conn.execute(_RELEASE, (reservation_id, tenant_id))


def set_quota(conn: psycopg.Connection, tenant_id: str, size: int | None) -> None:
    """Set the tenant's quota in bytes (0: unlimited; None: back to the setting's default)."""
    if size is not None and not 0 <= size <= MAX_STORAGE_QUOTA_BYTES:
        raise ValueError(f"a quota is 0 to {MAX_STORAGE_QUOTA_BYTES} bytes")
    if conn.execute(_SET_QUOTA, (size, tenant_id)).rowcount == 0:
        raise NotFound("No tenant with this id.")


def usage(conn: psycopg.Connection, tenant_id: str, default: int, request: PageRequest) -> dict:
    """The tenant's storage: quota, bytes and objects stored and reserved, materials by status,
    and one page of its courses (oldest first) with their own bytes, objects and materials."""
    by_status = {status: 0 for status in STATUSES}
    stored = objects = 0
    for row in conn.execute(_TOTALS, (tenant_id,)):
        stored, objects = stored + row[0], objects + row[1]
        by_status[row[2]] = row[3]
    after_at, after_id = request.after or _BEFORE_ALL
    params = {"tenant": tenant_id, "after_at": after_at, "after_id": after_id, "fetch": request.fetch}
    rows = conn.cursor(row_factory=dict_row).execute(_COURSES, params).fetchall()
    total = conn.execute(_COURSE_COUNT, (tenant_id,)).fetchone()[0]
    limit = quota(conn, tenant_id, default)
    return {
        "quota_bytes": limit,
        "used_bytes": stored,
        "reserved_bytes": conn.execute(_RESERVED, (tenant_id,)).fetchone()[0],
        "available_bytes": None if limit == UNLIMITED else max(0, limit - stored),
        "objects": objects,
        "materials_by_status": by_status,
        "courses": page_of(rows, request, total),
    }
