"""Slide number ↔ video timecode pairs of a course."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.validation import validate
from services.courses.schemas import SLIDE_MAPPING_BATCH


def validate_batch(body: Any) -> list[tuple[int, str]]:
    """The whole batch or a 422 naming every bad or repeated item."""
    batch = validate(body, SLIDE_MAPPING_BATCH)
    return [(item["slide_number"], item["video_timecode"]) for item in batch["mappings"]]


_COURSE = "SELECT 1 FROM courses WHERE id = %s AND tenant_id = %s"
# POST locks the course row, so that two replaces of one mapping run one after the other
_COURSE_FOR_UPDATE = _COURSE + " FOR UPDATE"


def _require_course(conn: psycopg.Connection, tenant_id: str, course_id: str, *, lock: bool = False) -> None:
    if conn.execute(_COURSE_FOR_UPDATE if lock else _COURSE, (course_id, tenant_id)).fetchone() is None:
        raise NotFound("No course with this id.")


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
