"""HTTP resources of the courses service: each turns a request into library calls and back."""

from __future__ import annotations

import weakref
from typing import ClassVar

import falcon
from psycopg_pool import ConnectionPool

from libs.access.auth import tenant_of
from libs.http.openapi import Operations, json_content, ref
from libs.http.pagination import PARAMETERS as PAGE_PARAMETERS
from libs.http.pagination import page_request
from libs.http.routing import API_PREFIX
from libs.http.validation import json_body, query, query_parameters, validate
from libs.llm import calls
from libs.platform.storage import Storage
from libs.store import courses, slide_mapping, structure, structure_edits
from services.courses import document, removal, slides
from services.courses import structure_edits as edit_resources
from services.courses.course_changes import CourseChanges
from services.courses.schemas import COST_QUERY, COURSE_INPUT, COURSE_PATCH


class CourseCollection:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Create a course",
            "requestBody": {"required": True, "content": json_content(ref("CourseInput"))},
            "responses": {"201": {"description": "The new course", "content": json_content(ref("Course"))}},
        },
        "GET": {
            "summary": "The tenant's courses, newest first",
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "One page", "content": json_content(ref("CoursePage"))}},
        },
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = validate(json_body(req), COURSE_INPUT)
        with self._pool.connection() as conn:
            course = courses.create(conn, tenant_of(req), fields)
        resp.status = falcon.HTTP_201
        resp.location = f"{API_PREFIX}/courses/{course['id']}"
        resp.media = course

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = page_request(req)
        with self._pool.connection() as conn:
            resp.media = courses.page(conn, tenant_of(req), request)


class CourseItem:
    """The course document, from the process's cache while it hears of every change to
    courses; with the listener down, after a revision lookup per read. ``If-None-Match`` with
    the current ETag answers 304."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The course with modules, lessons, concepts, exercises and materials",
            "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "The course document",
                    "content": json_content(ref("CourseDocument")),
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                },
                "304": {"description": "Unchanged since the given ETag"},
            },
        },
        "PATCH": {
            "summary": "Update title, description or learning goal (a run keeps what is set here)",
            "parameters": [edit_resources.IF_MATCH],
            "requestBody": {"required": True, "content": json_content(ref("CoursePatch"))},
            "responses": {"200": {"description": "The updated course", "content": json_content(ref("Course"))}},
        },
        "DELETE": {
            "summary": "Delete the course with everything under it, stored files included",
            "responses": {"204": {"description": "Deleted"}},
        },
    }

    def __init__(
        self,
        pool: ConnectionPool,
        storage: Storage,
        cache: document.DocumentCache,
        changes: CourseChanges | None,
    ) -> None:
        self._pool = pool
        self._storage = storage
        self._cache = cache
        self._changes = changes
        if changes is not None:
            # its thread and connection live as long as the reader (tests build many apps)
            weakref.finalize(self, changes.stop)

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        rendered = self._document(tenant_of(req), str(course_id))
        resp.etag = rendered.etag
        resp.cache_control = ["private", "no-cache"]
        # Falcon parses If-None-Match into unquoted tags (or "*"); weak comparison, as RFC 9110 asks
        if any(tag in ("*", rendered.etag.strip('"')) for tag in req.if_none_match or ()):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = falcon.MEDIA_JSON
        resp.data = rendered.body

    def _document(self, tenant: str, course: str) -> document.Rendered:
        generation = self._cache.generation  # before the snapshot: see DocumentCache.put
        if self._changes is not None and self._changes.catch_up():
            rendered = self._cache.get(tenant, course)
            if rendered is not None:
                return rendered  # the steady state: no round trip to PostgreSQL
            with self._pool.connection() as conn:
                rendered = document.render(document.build(conn, tenant, course))
        else:
            with self._pool.connection() as conn:
                rendered = self._cache.get(tenant, course, courses.current_revision(conn, tenant, course))
                if rendered is not None:
                    return rendered
                rendered = document.render(document.build(conn, tenant, course))
        self._cache.put(tenant, course, rendered, generation=generation)
        return rendered

    def on_patch(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        fields = validate(json_body(req), COURSE_PATCH, require=False)
        tenant, course = tenant_of(req), str(course_id)
        with self._pool.connection() as conn, conn.transaction():
            # If-Match: the course as the client read it, or a 412 (nothing written)
            structure_edits.hold_revision(conn, tenant, course, structure_edits.expected_tags(req.if_match))
            resp.media = updated = courses.update(conn, tenant, course, fields)
        self._cache.drop(course)  # this process's next read is fresh without waiting for NOTIFY
        resp.etag = structure_edits.etag(course, updated["revision"])

    def on_delete(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        course = str(course_id)
        removal.remove_course(self._pool, self._storage, tenant_of(req), course)
        self._cache.drop(course)
        resp.status = falcon.HTTP_204


class LessonItem(edit_resources.item("lessons")):  # type: ignore[misc]
    """``GET`` one lesson with its concepts and exercises; ``PATCH``/``DELETE`` as every item."""

    openapi: ClassVar[Operations] = {
        **edit_resources.item("lessons").openapi,
        "GET": {
            "summary": "One lesson with its concepts and exercises",
            "responses": {"200": {"description": "The lesson", "content": json_content(ref("LessonDetail"))}},
        },
    }

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object, lesson_id: object) -> None:
        with self._pool.connection() as conn:
            resp.media = structure.read_lesson(conn, tenant_of(req), str(course_id), str(lesson_id))


class SlideMapping:
    """``POST`` replaces the course's mapping with the batch (validated whole); ``GET`` lists it."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Replace the slide ↔ video timecode mapping (the batch is validated as a whole)",
            "requestBody": {"required": True, "content": json_content(ref("SlideMappingBatch"))},
            "responses": {"201": {"description": "The mapping now", "content": json_content(ref("SlideMapping"))}},
        },
        "GET": {
            "summary": "The slide ↔ video timecode mapping",
            "responses": {"200": {"description": "The mapping", "content": json_content(ref("SlideMapping"))}},
        },
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        pairs = slides.validate_batch(json_body(req))
        with self._pool.connection() as conn:
            resp.media = {"mappings": slide_mapping.replace(conn, tenant_of(req), str(course_id), pairs)}
        resp.status = falcon.HTTP_201

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        with self._pool.connection() as conn:
            resp.media = {"mappings": slide_mapping.list_pairs(conn, tenant_of(req), str(course_id))}


class CostReport:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The tenant's LLM spend: totals and by action, provider and model",
            "parameters": query_parameters(COST_QUERY),
            "responses": {"200": {"description": "The report", "content": json_content(ref("CostReport"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        days = query(req, COST_QUERY)
        with self._pool.connection() as conn:
            resp.media = calls.cost_report(conn, tenant_of(req), days.get("from"), days.get("to"))
