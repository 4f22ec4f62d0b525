"""Slide number ↔ video timecode pairs of a course."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.validation import Integer, Text, check_object, raise_problems

TIMECODE = re.compile(r"[0-9]{2}:[0-5][0-9]:[0-5][0-9]")
PAIR = {
    "slide_number": Integer(minimum=1, maximum=100_000, required=True),
    "video_timecode": Text(max_length=8, required=True, pattern=TIMECODE, pattern_hint="a timecode HH:MM:SS"),
}
MAX_PAIRS = 10_000


def validate_batch(body: Any) -> list[tuple[int, str]]:
    """The whole batch or a 422 naming every bad item."""
    if not isinstance(body, dict):
        raise_problems(["body: must be a JSON object"])
    problems = [f"{name}: unknown field" for name in body if name != "mappings"]
    items = body.get("mappings")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PAIRS:
        problems.append(f"mappings: required, a list of 1 to {MAX_PAIRS} {{slide_number, video_timecode}} pairs")
        raise_problems(problems)
    pairs: list[tuple[int, str]] = []
    seen: set[tuple[int, str]] = set()
    for index, item in enumerate(items):
        before = len(problems)
        pair = check_object(item, PAIR, problems, path=f"mappings[{index}]")
        if len(problems) > before:
            continue
        key = (pair["slide_number"], pair["video_timecode"])
        if key in seen:
            problems.append(f"mappings[{index}]: duplicates an earlier pair")
        seen.add(key)
        pairs.append(key)
    raise_problems(problems)
    return pairs


def _require_course(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    if (
        conn.execute(
            "SELECT 1 FROM courses WHERE id = %s AND tenant_id = %s FOR UPDATE", (course_id, tenant_id)
        ).fetchone()
        is None
    ):
        raise NotFound("No course with this id.")


def replace(conn: psycopg.Connection, tenant_id: str, course_id: str, pairs: list[tuple[int, str]]) -> list[dict]:
    """The batch becomes the course's mapping, all at once."""
    with conn.transaction():
        _require_course(conn, tenant_id, course_id)
        conn.execute("DELETE FROM slide_video_mappings WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO slide_video_mappings (tenant_id, course_id, slide_number, video_timecode) "
                "VALUES (%s, %s, %s, %s)",
                [(tenant_id, course_id, slide, timecode) for slide, timecode in pairs],
            )
    return list_pairs(conn, tenant_id, course_id)


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
