"""Material resources: HTTP in, calls to the form reader and ``libs.store.materials``, HTTP out."""

from __future__ import annotations

import logging
import uuid
from typing import ClassVar

import falcon
from psycopg_pool import ConnectionPool

from libs.http.openapi import Operations, error, json_content, ref
from libs.http.pagination import PARAMETERS as PAGE_PARAMETERS
from libs.http.pagination import page_request
from libs.http.routing import API_PREFIX
from libs.http.validation import Integer, Object, Text, json_body, validate
from libs.platform.db import retry_on_deadlock
from libs.platform.storage import Storage
from libs.store import courses, material_objects, materials
from services.uploads import form as material_form
from services.uploads import intake
from services.uploads.upload_janitor import UploadJanitor
from services.uploads.upload_slots import TooManyUploads, UploadSlots

log = logging.getLogger(__name__)


def _tenant(req: falcon.Request) -> str:
    return req.context.principal.tenant_id


class MaterialCollection:
    """``POST`` streams a file from the request into an S3 multipart upload (never whole in
    memory or on disk), or takes a ``source_url``; one transaction then records the material
    and queues its ingestion. Any failure aborts the upload: no row, object or part remains
    (an abort S3 is not there to take is left to the ``janitor``).
    Each tenant runs at most ``slots.per_tenant`` uploads at once."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Add a material: a file (streamed to storage) or a source_url; ingestion is queued",
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": ref("MaterialForm")}},
            },
            "responses": {
                "201": {"description": "The material, pending", "content": json_content(ref("Material"))},
                "400": error("The multipart body is malformed"),
                "411": error("No Content-Length header"),
                "413": error("The file is over the upload limit"),
                "408": error("The file arrived too slowly to finish within the longest an upload may take"),
                "415": error("The body is not multipart/form-data"),
                "429": error(
                    "Rate limit used up, or the tenant already runs as many uploads at once as it may",
                    {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait"}},
                ),
                "503": error("Storage is unavailable; nothing was kept"),
            },
        },
        "GET": {
            "summary": "The course's materials with their ingestion status, oldest first, a page at a time",
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "A page of materials", "content": json_content(ref("MaterialPage"))}},
        },
    }

    def __init__(
        self,
        pool: ConnectionPool,
        storage: Storage,
        slots: UploadSlots | None,
        max_upload_bytes: int,
        janitor: UploadJanitor | None,
    ) -> None:
        self._pool = pool
        self._storage = storage
        self._slots = slots
        self._max = max_upload_bytes
        self._janitor = janitor

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        tenant, course = _tenant(req), str(course_id)
        request = page_request(req)
        with self._pool.connection() as conn:
            courses.require(conn, tenant, course)
            resp.media = materials.page(conn, tenant, course, request)

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        tenant, course = _tenant(req), str(course_id)
        with self._pool.connection() as conn:
            courses.require(conn, tenant, course)  # 404 before a byte of the body is read
        material_form.check_request(req, self._max)
        material_id = str(uuid.uuid4())
        try:
            with self._slots.hold(tenant):
                form = material_form.receive(
                    req,
                    self._storage,
                    key_for=lambda filename: material_objects.object_key(tenant, course, material_id, filename),
                    max_upload_bytes=self._max,
                    janitor=self._janitor,
                )
                try:
                    with self._pool.connection() as conn:
                        material = intake.create_with_job(
                            conn,
                            tenant,
                            material_id=material_id,
                            course_id=course,
                            source_type=form.source_type,
                            source_url=form.source_url,
                            filename=form.filename,
                            content_type=form.content_type,
                            size=form.size,
                            key=form.key,
                            section=form.section,
                            position=form.position,
                        )
                except BaseException:
                    form.discard(self._storage, self._janitor)
                    raise
        except TooManyUploads as exc:
            raise falcon.HTTPTooManyRequests(
                title="Too many uploads",
                description=f"This tenant already runs {exc.limit} uploads at once; "
                "send this one when one of them has finished.",
                retry_after=exc.retry_after,
            ) from None
        resp.status = falcon.HTTP_201
        resp.location = f"{API_PREFIX}/courses/{course}/materials/{material_id}"
        resp.media = material


# The author's organisation of a material: its section (a module to be) and its place.
MATERIAL_PATCH = Object(
    {
        "section": Text(max_length=materials.SECTION_MAX, min_length=1, nullable=True),
        "position": Integer(minimum=0, maximum=materials.MAX_POSITION, nullable=True),
    },
    min_properties=1,
)


class MaterialItem:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "One material with its ingestion status",
            "responses": {"200": {"description": "The material", "content": json_content(ref("Material"))}},
        },
        "PATCH": {
            "summary": "Set the material's section (a run makes a module of each) or its place; null clears one",
            "requestBody": {"required": True, "content": json_content(ref("MaterialPatch"))},
            "responses": {"200": {"description": "The material", "content": json_content(ref("Material"))}},
        },
        "DELETE": {
            "summary": "Delete the material and its stored file",
            "responses": {"204": {"description": "Deleted"}},
        },
    }

    def __init__(self, pool: ConnectionPool, storage: Storage) -> None:
        self._pool = pool
        self._storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            resp.media = materials.get(conn, _tenant(req), str(course_id), str(material_id))

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID
    ) -> None:
        fields = validate(json_body(req), MATERIAL_PATCH, require=False)
        with self._pool.connection() as conn:
            resp.media = materials.organise(conn, _tenant(req), str(course_id), str(material_id), fields)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID
    ) -> None:
        def delete() -> list[str]:
            with self._pool.connection() as conn:
                return materials.delete(conn, _tenant(req), str(course_id), str(material_id))

        keys = retry_on_deadlock(delete)  # an ingestion writing the material's rows meanwhile
        material_objects.delete_now(self._pool, self._storage, keys)
        resp.status = falcon.HTTP_204
