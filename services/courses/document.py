"""The course document: course → modules → lessons → concepts and exercises, plus materials.

Built with a constant six queries whatever the course's size, in one snapshot, and cached
per process until PostgreSQL announces a change to the course (services/courses/course_changes.py):
polling clients cost no database round trip at all, only the stored bytes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import psycopg

from libs.http.encoding import json_default
from libs.store import courses, materials, structure


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
    """Rendered documents per course, for one worker process; bounded, least recently used
    out first. An entry is trusted as it stands while :class:`CourseChanges` listens (it drops
    the entries of courses that change, and everything when it may have missed a change); while
    it does not, an entry is served only if its revision is still the course's.

    A document built from a snapshot that a change overtook must not be stored after that
    change's notification has come and gone: :meth:`put` takes the :attr:`generation` read
    before the snapshot, and stores nothing if a change or a reset came since."""

    def __init__(self, capacity: int = 512) -> None:
        self._entries: OrderedDict[str, tuple[str, Rendered]] = OrderedDict()  # course → (tenant, document)
        self._capacity = capacity
        self._lock = threading.Lock()
        self.generation = 0  # moves on every change and reset

    def get(self, tenant_id: str, course_id: str, revision: int | None = None) -> Rendered | None:
        """The cached document, if it is this tenant's and (when given) at ``revision``."""
        with self._lock:
            entry = self._entries.get(course_id)
            if entry is None or entry[0] != tenant_id or (revision is not None and entry[1].revision != revision):
                return None
            self._entries.move_to_end(course_id)
            return entry[1]

    def put(self, tenant_id: str, course_id: str, rendered: Rendered, *, generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return  # something changed since the snapshot began: it may be older than that
            self._entries[course_id] = (tenant_id, rendered)
            self._entries.move_to_end(course_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def drop(self, course_id: str) -> None:
        with self._lock:
            self.generation += 1
            self._entries.pop(course_id, None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
