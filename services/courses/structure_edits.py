"""The author's edits of a course's structure: add a module, lesson, concept or exercise by hand,
change or move one, delete one. Each answers with the course document's new ETag; ``If-Match``
with the ETag the author read makes a stale edit a 412 instead of overwriting another's."""

from __future__ import annotations

from typing import ClassVar

import falcon
from psycopg_pool import ConnectionPool

from libs.access.auth import tenant_of
from libs.http.openapi import Operations, error, json_content, ref
from libs.http.routing import API_PREFIX
from libs.http.validation import json_body, validate
from libs.store import structure_edits
from services.courses.document import DocumentCache
from services.courses.schemas import EDITS, ITEM_NAMES, PATCHES

IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "schema": {"type": "string"},
    "description": "The course's ETag as the author read it: the edit is refused (412) if the course changed since",
}
_STALE = error("The course changed since the If-Match ETag: read it again")
_PATH = {"modules": "modules", "lessons": "lessons", "concepts": "concepts", "exercises": "exercises"}


def _expected(req: falcon.Request) -> list[str] | None:
    return structure_edits.expected_tags(req.if_match)


class _Edit:
    kind: str

    def __init__(self, pool: ConnectionPool, cache: DocumentCache) -> None:
        self._pool = pool
        self._cache = cache

    def _done(self, resp: falcon.Response, course: str, revision: int) -> None:
        self._cache.drop(course)  # this process's next read is fresh without waiting for NOTIFY
        resp.etag = structure_edits.etag(course, revision)


def collection(kind: str) -> type:
    """``POST``: add a ``kind`` by hand under the parent the path names (201)."""
    name = ITEM_NAMES[kind]

    class Collection(_Edit):
        openapi: ClassVar[Operations] = {
            "POST": {
                "summary": f"Add a {name.lower()} by hand (a run keeps it)",
                "parameters": [IF_MATCH],
                "requestBody": {"required": True, "content": json_content(ref(f"{name}Input"))},
                "responses": {
                    "201": {"description": f"The new {name.lower()}", "content": json_content(ref(f"{name}Item"))},
                    "412": _STALE,
                },
            }
        }

        def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: object, **parent: object) -> None:
            fields = validate(json_body(req), EDITS[kind])
            course = str(course_id)
            parent_id = str(next(iter(parent.values()))) if parent else None
            with self._pool.connection() as conn:
                item, revision = structure_edits.add(
                    conn, tenant_of(req), course, kind, parent_id, fields, expected=_expected(req)
                )
            self._done(resp, course, revision)
            resp.status = falcon.HTTP_201
            resp.location = f"{API_PREFIX}/courses/{course}/{_PATH[kind]}/{item['id']}"
            resp.media = item

    Collection.kind = kind
    Collection.__name__ = Collection.__qualname__ = f"{name}Collection"
    return Collection


def item(kind: str) -> type:
    """``PATCH``: change or move a ``kind`` (its fields marked edited); ``DELETE``: remove it."""
    name = ITEM_NAMES[kind]

    class Item(_Edit):
        openapi: ClassVar[Operations] = {
            "PATCH": {
                "summary": f"Change or move a {name.lower()} (the fields set are the author's: a run keeps them)",
                "parameters": [IF_MATCH],
                "requestBody": {"required": True, "content": json_content(ref(f"{name}Patch"))},
                "responses": {
                    "200": {"description": f"The {name.lower()}", "content": json_content(ref(f"{name}Item"))},
                    "412": _STALE,
                },
            },
            "DELETE": {
                "summary": f"Delete a {name.lower()} and what hangs under it (a run does not bring it back)",
                "parameters": [IF_MATCH],
                "responses": {"204": {"description": "Deleted"}, "412": _STALE},
            },
        }

        def on_patch(self, req: falcon.Request, resp: falcon.Response, course_id: object, **ids: object) -> None:
            fields = validate(json_body(req), PATCHES[kind], require=False)
            course = str(course_id)
            with self._pool.connection() as conn:
                found, revision = structure_edits.update(
                    conn, tenant_of(req), course, kind, str(next(iter(ids.values()))), fields, expected=_expected(req)
                )
            self._done(resp, course, revision)
            resp.media = found

        def on_delete(self, req: falcon.Request, resp: falcon.Response, course_id: object, **ids: object) -> None:
            course = str(course_id)
            with self._pool.connection() as conn:
                revision = structure_edits.delete(
                    conn, tenant_of(req), course, kind, str(next(iter(ids.values()))), expected=_expected(req)
                )
            self._done(resp, course, revision)
            resp.status = falcon.HTTP_204

    Item.kind = kind
    Item.__name__ = Item.__qualname__ = f"{name}Item"
    return Item
