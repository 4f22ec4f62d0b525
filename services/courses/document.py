"""The course document: course → modules → lessons → concepts and exercises, plus materials.

Built with a constant six queries whatever the course's size, in one snapshot, and cached
per course revision: polling clients cost one revision lookup and the stored bytes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import psycopg

from libs import courses, materials, structure
from libs.encoding import json_default


def build(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    """The whole document, read in one REPEATABLE READ snapshot so its parts agree."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        course = courses.get(conn, tenant_id, course_id)
        modules = structure.read(conn, tenant_id, course_id)
        material_list = materials.list_for_course(conn, tenant_id, course_id)
    return {**course, "modules": modules, "materials": material_list}


@dataclass(frozen=True)
class Rendered:
    revision: int
    etag: str
    body: bytes


def render(document: dict) -> Rendered:
    revision = document["revision"]
    body = json.dumps(document, default=json_default, separators=(",", ":")).encode()
    return Rendered(revision, f'"{document["id"]}-{revision}"', body)


class DocumentCache:
    """Rendered documents per (tenant, course), valid while the course's revision stands.
    Per worker process; bounded, least recently used out first."""

    def __init__(self, capacity: int = 512) -> None:
        self._entries: OrderedDict[tuple[str, str], Rendered] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, tenant_id: str, course_id: str, revision: int) -> Rendered | None:
        with self._lock:
            entry = self._entries.get((tenant_id, course_id))
            if entry is None or entry.revision != revision:
                return None
            self._entries.move_to_end((tenant_id, course_id))
            return entry

    def put(self, tenant_id: str, course_id: str, rendered: Rendered) -> None:
        with self._lock:
            self._entries[(tenant_id, course_id)] = rendered
            self._entries.move_to_end((tenant_id, course_id))
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def drop(self, tenant_id: str, course_id: str) -> None:
        with self._lock:
            self._entries.pop((tenant_id, course_id), None)
