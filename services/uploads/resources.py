from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

import falcon
from botocore.exceptions import BotoCoreError, ClientError
from falcon.media.multipart import BodyPart
from psycopg_pool import ConnectionPool

from libs.errors import Invalid, Unavailable
from libs.multipart_upload import MultipartWriter
from libs.openapi import Operations, json_content, ref
from libs.storage import Storage
from services.uploads import filetypes, materials

log = logging.getLogger(__name__)

READ_SIZE = 1024 * 1024
# Room for the form's boundaries, part headers and text fields next to the file itself.
FORM_OVERHEAD = 64 * 1024
MAX_FIELD = 4096
MAX_URL = 2048


def _tenant(req: falcon.Request) -> str:
    return req.context.principal.tenant_id


def _too_large(limit: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(title="Payload too large", description=f"file: the upload limit is {limit} bytes")


@dataclass
class _Form:
    """What the multipart form said, and the S3 upload its file went to."""

    source_type: str | None = None
    source_url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    writer: MultipartWriter | None = None
    head: bytes = b""  # the file's first bytes, checked once source_type is known
    seen: set[str] = field(default_factory=set)


class MaterialCollection:
    """``POST`` streams a file from the request into an S3 multipart upload (never whole in
    memory or on disk), or takes a ``source_url``; one transaction then records the material
    and queues its ingestion. Any failure aborts the upload: no row, object or part remains."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Add a material: a file (streamed to storage) or a source_url; ingestion is queued",
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": ref("MaterialForm")}},
            },
            "responses": {
                "201": {"description": "The material, pending", "content": json_content(ref("Material"))},
                "413": {
                    "description": "The file is over the upload limit",
                    "content": json_content({"$ref": "#/components/schemas/Error"}),
                },
            },
        },
        "GET": {
            "summary": "The course's materials with their ingestion status",
            "responses": {"200": {"description": "The materials", "content": json_content(ref("MaterialList"))}},
        },
    }

    def __init__(self, pool: ConnectionPool, storage: Storage, max_upload_bytes: int) -> None:
        self._pool = pool
        self._storage = storage
        self._max = max_upload_bytes

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            resp.media = {"items": materials.list_for_course(conn, _tenant(req), str(course_id))}

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        tenant, course = _tenant(req), str(course_id)
        with self._pool.connection() as conn:
            materials.require_course(conn, tenant, course)  # 404 before a byte of the body is read
        if req.content_length is None:
            # Falcon's form parser needs the length, and it lets us refuse big files unread
            raise falcon.HTTPLengthRequired(
                title="Length required", description="Send the form with a Content-Length header."
            )
        if req.content_length > self._max + FORM_OVERHEAD:
            raise _too_large(self._max)
        if not (req.content_type or "").startswith("multipart/form-data"):
            raise falcon.HTTPUnsupportedMediaType(
                title="Unsupported media type", description="Send the material as multipart/form-data."
            )
        material_id = str(uuid.uuid4())
        form = _Form()
        try:
            for part in req.get_media():
                self._read_part(part, form, f"tenants/{tenant}/courses/{course}/materials/{material_id}/")
            self._check_form(form)
            size = form.writer.complete() if form.writer else None
            with self._pool.connection() as conn:
                material = materials.create_with_job(
                    conn,
                    material_id=material_id,
                    tenant_id=tenant,
                    course_id=course,
                    source_type=form.source_type,
                    source_url=form.source_url,
                    filename=form.filename,
                    content_type=form.content_type,
                    size=size,
                    key=form.writer.key if form.writer else None,
                )
        except falcon.HTTPContentTooLarge:
            self._discard(form)
            _drain(req)  # at most FORM_OVERHEAD is left: read it, so the answer reaches the client
            raise
        except (BotoCoreError, ClientError) as exc:
            self._discard(form)
            log.error("storage failed during an upload to course %s: %s", course, exc)
            raise Unavailable("Storage is unavailable; nothing was kept. Try the upload again.") from None
        except BaseException:
            self._discard(form)
            raise
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/courses/{course}/materials/{material_id}"
        resp.media = material

    def _read_part(self, part: BodyPart, form: _Form, key_prefix: str) -> None:
        name = part.name
        if name in form.seen:
            raise Invalid(f"{name}: given more than once", field=name)
        form.seen.add(name)
        if name == "source_type":
            form.source_type = _text_field(part, name, 32)
            if form.source_type not in filetypes.SOURCE_TYPES:
                raise Invalid(f"source_type: must be one of {', '.join(filetypes.SOURCE_TYPES)}", field=name)
        elif name == "source_url":
            form.source_url = _text_field(part, name, MAX_URL)
            parts = urlsplit(form.source_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Invalid("source_url: must be an http or https URL with a host", field=name)
        elif name == "file":
            self._stream_file(part, form, key_prefix)
        else:
            raise Invalid(f"{name}: unknown field (expected source_type, file or source_url)", field=name)

    def _stream_file(self, part: BodyPart, form: _Form, key_prefix: str) -> None:
        if not part.filename:
            raise Invalid("file: must be a file part with a filename", field="file")
        form.filename = part.filename[:255]
        if form.source_type is not None:  # refuse a wrong extension before reading the file
            _expect(form.source_type, form.filename)
        head = part.stream.read(filetypes.SNIFF_BYTES)
        if not head:
            raise Invalid("file: is empty", field="file")
        if form.source_type is not None:
            form.content_type = _sniff(form.source_type, form.filename, head)
        form.writer = MultipartWriter(
            self._storage,
            key_prefix + filetypes.safe_name(form.filename),
            form.content_type or "application/octet-stream",
        )
        form.writer.write(head)
        while chunk := part.stream.read(READ_SIZE):
            if form.writer.size + len(chunk) > self._max:
                raise _too_large(self._max)
            form.writer.write(chunk)
        form.head = head

    def _check_form(self, form: _Form) -> None:
        if form.source_type is None:
            raise Invalid("source_type: required (video, presentation, text or web)", field="source_type")
        if form.writer and form.source_url:
            raise Invalid("source_url: give either a file or a source_url, not both", field="source_url")
        if form.source_type == "web":
            if form.writer:
                raise Invalid("file: a web material takes a source_url, not a file", field="file")
            if not form.source_url:
                raise Invalid("source_url: required for a web material", field="source_url")
        elif not form.writer and not form.source_url:
            raise Invalid("file: required (or a source_url)", field="file")
        if form.writer and form.content_type is None:  # the file came before source_type
            form.content_type = _sniff(form.source_type, form.filename, form.head)

    def _discard(self, form: _Form) -> None:
        if form.writer is None:
            return
        try:
            if form.writer.finished:
                self._storage.delete_objects([form.writer.key])
            else:
                form.writer.abort()
        except Exception:
            log.exception("could not discard the upload of %s", form.writer.key)


def _drain(req: falcon.Request) -> None:
    with contextlib.suppress(OSError):
        while req.bounded_stream.read(READ_SIZE):
            pass


def _text_field(part: BodyPart, name: str, limit: int) -> str:
    raw = part.stream.read(limit + 1)
    if len(raw) > limit:
        raise Invalid(f"{name}: must be at most {limit} bytes", field=name)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Invalid(f"{name}: must be UTF-8 text", field=name) from None
    if not text or "\x00" in text:
        raise Invalid(f"{name}: must be non-empty text", field=name)
    return text


def _expect(source_type: str, filename: str) -> None:
    try:
        filetypes.expected_for(source_type, filename)
    except filetypes.Mismatch as exc:
        raise Invalid(f"file: {exc}", field="file") from None


def _sniff(source_type: str, filename: str, head: bytes) -> str:
    try:
        return filetypes.check_content(source_type, filename, head)
    except filetypes.Mismatch as exc:
        raise Invalid(str(exc) if str(exc).startswith("file:") else f"file: {exc}", field="file") from None


class MaterialItem:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "One material with its ingestion status",
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

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, material_id: uuid.UUID
    ) -> None:
        with self._pool.connection() as conn:
            key = materials.delete(conn, _tenant(req), str(course_id), str(material_id))
        if key:
            try:
                self._storage.delete_objects([key])
            except Exception:
                log.exception("material %s deleted but its object %s remains", material_id, key)
        resp.status = falcon.HTTP_204
