"""The one owner of ``slide_video_mappings``: a course's slide number ↔ video timecode pairs.
The courses service replaces and lists them; the ArchitectAgent reads them."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from libs.store import courses

MAX_SLIDE = 100_000  # the highest slide number anything may name
MAX_PAIRS = 10_000  # pairs in one mapping


def _require_course(conn: psycopg.Connection, tenant_id: str, course_id: str, *, lock: bool = False) -> None:
    courses.require(conn, tenant_id, course_id, lock=lock)


def replace(conn: psycopg.Connection, tenant_id: str, course_id: str, pairs: list[tuple[int, str]]) -> list[dict]:
    """The batch becomes the course's mapping, all at once (one transaction, one revision).
    COPY moves the rows in one round trip: 10 000 pairs take milliseconds, not seconds."""
    with conn.transaction():
        _require_course(conn, tenant_id, course_id, lock=True)
        conn.execute("DELETE FROM slide_video_mappings WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id))
        with conn.cursor().copy(
            "COPY slide_video_mappings (tenant_id, course_id, slide_number, video_timecode) FROM STDIN"
        ) as copy:
            for slide, timecode in pairs:
                copy.write_row((tenant_id, course_id, slide, timecode))
    return [{"slide_number": slide, "video_timecode": timecode} for slide, timecode in sorted(pairs)]


def list_pairs(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's pairs by slide number; :class:`NotFound` for another tenant's course."""
    _require_course(conn, tenant_id, course_id)
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT slide_number, video_timecode FROM slide_video_mappings WHERE course_id = %s AND tenant_id = %s "
            "ORDER BY slide_number, video_timecode",
            (course_id, tenant_id),
        )
        .fetchall()
    )
