"""Material resources: HTTP in, calls to the form reader and ``libs.store.materials``, HTTP out."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from typing import ClassVar

import falcon
import psycopg
from psycopg_pool import ConnectionPool

from libs.access.auth import tenant_of
from libs.http.openapi import Operations, error, json_content, ref
from libs.http.pagination import PARAMETERS as PAGE_PARAMETERS
from libs.http.pagination import page_request
from libs.http.routing import API_PREFIX
from libs.http.validation import Boolean, Integer, Object, Text, json_body, query, query_parameters, validate
from libs.platform.db import retry_on_deadlock
from libs.platform.storage import Storage
from libs.store import courses, material_objects, materials, storage_usage
from services.uploads import form as material_form
from services.uploads import intake
from services.uploads.multipart_upload import stale_after_seconds
from services.uploads.upload_janitor import UploadJanitor
from services.uploads.upload_slots import TooManyUploads, UploadSlots

log = logging.getLogger(__name__)

UPLOAD_QUERY = {
    "allow_duplicate": Boolean(
        description="Keep the file even when the course has a material with the same content (409 otherwise)"
    ),
}


class MaterialCollection:
    """``POST`` streams a file from the request into an S3 multipart upload (never whole in
    memory or on disk), or takes a ``source_url``; one transaction then records the material
    and queues its ingestion. Any failure aborts the upload: no row, object or part remains
    (an abort S3 is not there to take is left to the ``janitor``).
    Each tenant runs at most ``slots.per_tenant`` uploads at once."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Add a material: a file (streamed to storage) or a source_url; ingestion is queued",
            "parameters": query_parameters(UPLOAD_QUERY),
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": ref("MaterialForm")}},
            },
            "responses": {
                "201": {"description": "The material, pending", "content": json_content(ref("Material"))},
                "400": error("The multipart body is malformed"),
                "411": error("No Content-Length header"),
                "409": error("The course has a material with the same content (existing_material_id names it)"),
                "413": error(
                    "The file is over the upload limit, or storing it would pass the tenant's storage quota"
                    " (quota_bytes, used_bytes, reserved_bytes and requested_bytes say by how much)"
                ),
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
        *,
        default_quota: int = storage_usage.UNLIMITED,
    ) -> None:
        self._pool = pool
        self._storage = storage
        self._slots = slots
        self._max = max_upload_bytes
        self._janitor = janitor
        self._quota = default_quota

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        tenant, course = tenant_of(req), str(course_id)
        request = page_request(req)
        with self._pool.connection() as conn:
            courses.require(conn, tenant, course)
            resp.media = materials.page(conn, tenant, course, request)

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        tenant, course = tenant_of(req), str(course_id)
        allow_duplicate = query(req, UPLOAD_QUERY).get("allow_duplicate", False)
        with self._pool.connection() as conn:
            courses.require(conn, tenant, course)  # 404 before a byte of the body is read
        material_form.check_request(req, self._max)
        material_id = str(uuid.uuid4())
        try:
            with self._slots.hold(tenant), self._reserved(tenant, material_id, req.content_length) as reservation:
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
                            reservation=reservation,
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
                            sha256=form.sha256,
                            allow_duplicate=allow_duplicate,
                        )
                except psycopg.OperationalError:
                    # the connection went mid-transaction: its COMMIT may have been carried out
                    # (a frozen server wakes and does it) though no answer came, so the stored
                    # file goes only once the database says the material was not recorded
                    if self._janitor is not None and form.writer is not None and form.writer.finished:
                        self._janitor.delete_unless_recorded(tenant, material_id, form.writer.key)
                    else:
                        form.discard(self._storage, self._janitor)
                    raise
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

    @contextlib.contextmanager
    def _reserved(self, tenant: str, reservation_id: str, size: int) -> Iterator[str | None]:
        """The upload's bytes (its Content-Length) reserved against the tenant's quota before
        one is read (413 past it); the reservation's id, or None when the quota is unlimited.
        Released if the upload fails; its material takes its place if it succeeds."""
        with self._pool.connection() as conn:
            seconds = stale_after_seconds(self._max)
            reserved = storage_usage.reserve(conn, tenant, reservation_id, size, seconds=seconds, default=self._quota)
        try:
            yield reservation_id if reserved else None
        except BaseException:
            if reserved:
                try:
                    with self._pool.connection() as conn:
                        storage_usage.release(conn, tenant, reservation_id)
                except Exception:  # it lapses at its expiry; the failure the client sees matters more
                    log.exception("could not release storage reservation %s", reservation_id)
            raise


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
            resp.media = materials.get(conn, tenant_of(req), str(course_id), str(material_id))

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID
    ) -> None:
        fields = validate(json_body(req), MATERIAL_PATCH, require=False)
        with self._pool.connection() as conn:
            resp.media = materials.organise(conn, tenant_of(req), str(course_id), str(material_id), fields)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID
    ) -> None:
        def delete() -> list[str]:
            with self._pool.connection() as conn:
                return materials.delete(conn, tenant_of(req), str(course_id), str(material_id))

        keys = retry_on_deadlock(delete)  # an ingestion writing the material's rows meanwhile
        material_objects.delete_now(self._pool, self._storage, keys)
        resp.status = falcon.HTTP_204


class MaterialRetry:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Ingest again a material whose ingestion failed (status error): a new job, the document rebuilt",
            "responses": {
                "202": {
                    "description": "The material, pending, with its new job",
                    "content": json_content(ref("Material")),
                },
                "409": error("The material is not in error (pending, processing or done)"),
            },
        },
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            material = intake.retry_with_job(conn, tenant_of(req), str(course_id), str(material_id))
        resp.status = falcon.HTTP_202
        resp.location = f"{API_PREFIX}/jobs/{material['job_id']}"
        resp.media = material


class StorageUsage:
    """What the tenant stores against its quota, with a page of its courses."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The tenant's storage: quota, bytes and objects stored, materials by status, per course",
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "The usage", "content": json_content(ref("StorageUsage"))}},
        },
    }

    def __init__(self, pool: ConnectionPool, default_quota: int) -> None:
        self._pool = pool
        self._quota = default_quota

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = page_request(req)
        with self._pool.connection() as conn, conn.transaction():  # one snapshot for every figure
            resp.media = storage_usage.usage(conn, tenant_of(req), self._quota, request)
