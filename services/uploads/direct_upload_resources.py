"""Direct upload resources: HTTP in, calls to :mod:`services.uploads.direct_upload`, HTTP out."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

import falcon

from libs.access.auth import tenant_of
from libs.errors import Invalid
from libs.http.openapi import Operations, error, json_content, ref
from libs.http.validation import (
    Array,
    Choice,
    Integer,
    Object,
    Text,
    json_body,
    query,
    query_parameters,
    validate,
)
from libs.platform.settings import MAX_STORAGE_QUOTA_BYTES
from libs.sources import filetypes
from libs.store import material_uploads, materials
from services.uploads.direct_upload import MAX_PARTS, PART_URLS_PER_ANSWER, SINGLE_PUT_MAX, DirectUploads
from services.uploads.resources import MATERIAL_PATCH, UPLOAD_QUERY

FILE_TYPES = tuple(t for t in materials.SOURCE_TYPES if t != "web")
# Control characters (Unicode's Cc) cannot be in a file name.
_CONTROL = "".join(map(chr, [*range(32), *range(127, 160)]))


def _name_pattern(extensions: Iterable[str]) -> str:
    """A file name ending in one of ``extensions`` (any case), after a character that leaves
    it the file's extension (not a dot, not a slash)."""

    def any_case(extension: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in extension.lstrip("."))

    return r".*[^/.]\.(?:" + "|".join(any_case(e) for e in sorted(extensions)) + ")"


# The names each source_type takes, from the one vocabulary (libs/sources/filetypes.py): what
# the request is checked against and what the document's schema says, both.
NAME_PATTERNS = {source_type: _name_pattern(filetypes.ACCEPTED[source_type]) for source_type in FILE_TYPES}
DIRECT_UPLOAD = Object(
    {
        "filename": Text(
            max_length=materials.MAX_FILENAME,
            min_length=1,
            required=True,
            forbidden=_CONTROL,
            description="Ending in an extension its source_type takes (see the schema's oneOf)",
        ),
        "source_type": Choice(FILE_TYPES, required=True),
        "size": Integer(
            minimum=1,
            maximum=MAX_STORAGE_QUOTA_BYTES,
            required=True,
            description="The file's exact length in bytes; at most the upload limit (413 past it)",
        ),
        "content_type": Text(max_length=255, min_length=1, description="Stored with the object; the type is sniffed"),
        "sha256": Text(
            max_length=64,
            pattern="[0-9a-fA-F]{64}",
            pattern_hint="64 hexadecimal digits",
            description="The file's SHA-256: a duplicate is refused before a byte is sent, and the upload checked",
        ),
        **MATERIAL_PATCH.fields,
    }
)
DIRECT_UPLOAD_SCHEMA = {
    "allOf": [
        DIRECT_UPLOAD.schema(),
        {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "source_type": {"type": "string", "enum": [source_type]},
                        "filename": {"type": "string", "pattern": f"^(?:{pattern})$"},
                    },
                }
                for source_type, pattern in NAME_PATTERNS.items()
            ]
        },
    ]
}


def check_name(fields: dict[str, Any]) -> None:
    """The file name's extension is one its source_type takes (the schema's oneOf)."""
    source_type = fields["source_type"]
    if not re.fullmatch(NAME_PATTERNS[source_type], fields["filename"]):
        accepted = ", ".join(sorted(filetypes.ACCEPTED[source_type]))
        raise Invalid(f"filename: a {source_type} file's name must end in one of {accepted}", field="filename")


COMPLETION = Object(
    {
        "parts": Array(
            Object(
                {
                    "part_number": Integer(minimum=1, maximum=MAX_PARTS, required=True),
                    "etag": Text(max_length=200, min_length=1, required=True, description="The ETag S3 answered"),
                }
            ),
            min_items=1,
            max_items=MAX_PARTS,
            description="For a multipart upload: every part sent, with the ETag its PUT answered",
        )
    }
)
PARTS_QUERY = {
    "first": Integer(minimum=1, maximum=MAX_PARTS, description="The first part's number (1 by default)"),
    "count": Integer(minimum=1, maximum=PART_URLS_PER_ANSWER, description=f"At most {PART_URLS_PER_ANSWER}"),
}


class DirectUploadCollection:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Start a direct upload: presigned URLs to PUT the file straight to S3, then complete it",
            "description": f"Files up to {SINGLE_PUT_MAX // 1024**2} MiB get one PUT URL; larger ones an S3 "
            f"multipart upload with the URLs of its first {PART_URLS_PER_ANSWER} parts (the rest from "
            "parts_url). Each URL takes exactly its length (send that Content-Length) until expires_at.",
            "parameters": query_parameters(UPLOAD_QUERY),
            "requestBody": {"required": True, "content": json_content(ref("DirectUploadRequest"))},
            "responses": {
                "201": {"description": "The upload, with its URLs", "content": json_content(ref("DirectUpload"))},
                "409": error("The course has a material with the declared sha256 (existing_material_id names it)"),
                "413": error("The size is over the upload limit, or would pass the tenant's storage quota"),
                "503": error("Storage is unavailable; nothing was kept"),
            },
        },
    }

    def __init__(self, uploads: DirectUploads) -> None:
        self._uploads = uploads

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID) -> None:
        allow_duplicate = query(req, UPLOAD_QUERY).get("allow_duplicate", False)
        fields = validate(json_body(req), DIRECT_UPLOAD)
        check_name(fields)
        answer = self._uploads.start(tenant_of(req), str(course_id), fields, allow_duplicate=allow_duplicate)
        resp.status = falcon.HTTP_201
        resp.location = answer["complete_url"].removesuffix("/complete")
        resp.media = answer


class DirectUploadItem:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "An upload in progress, with fresh URLs (of its first parts)",
            "responses": {"200": {"description": "The upload", "content": json_content(ref("DirectUpload"))}},
        },
        "DELETE": {
            "summary": "Abort the upload: its parts or object and its reserved bytes go",
            "responses": {"204": {"description": "Aborted"}},
        },
    }

    def __init__(self, uploads: DirectUploads, pool: Any) -> None:
        self._uploads = uploads
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            row = material_uploads.get(conn, tenant_of(req), str(course_id), str(upload_id))
        resp.media = self._uploads.describe(row, first_part=1)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        self._uploads.abort(tenant_of(req), str(course_id), str(upload_id))
        resp.status = falcon.HTTP_204


class DirectUploadParts:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "URLs of more parts of a multipart upload",
            "parameters": query_parameters(PARTS_QUERY),
            "responses": {"200": {"description": "The upload", "content": json_content(ref("DirectUpload"))}},
        },
    }

    def __init__(self, uploads: DirectUploads, pool: Any) -> None:
        self._uploads = uploads
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        values = query(req, PARTS_QUERY)
        with self._pool.connection() as conn:
            row = material_uploads.get(conn, tenant_of(req), str(course_id), str(upload_id))
        resp.media = self._uploads.describe(
            row, first_part=values.get("first", 1), count=values.get("count", PART_URLS_PER_ANSWER)
        )


class DirectUploadCompletion:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Complete the upload: the object is checked and becomes a material, its ingestion queued",
            "requestBody": {"required": False, "content": json_content(ref("DirectUploadCompletion"))},
            "responses": {
                "201": {"description": "The material, pending", "content": json_content(ref("Material"))},
                "409": error(
                    "Nothing was uploaded yet (the upload is kept), another completion runs, or the course has "
                    "a material with the same content (the upload is ended)"
                ),
                "422": error("The object is not what was declared (size, type, sha256, parts): the upload is ended"),
                "503": error("Storage is unavailable; the upload is kept"),
            },
        },
    }

    def __init__(self, uploads: DirectUploads) -> None:
        self._uploads = uploads

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        body = validate(json_body(req), COMPLETION) if req.content_length else {}
        material = self._uploads.complete(tenant_of(req), str(course_id), str(upload_id), body.get("parts"))
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/courses/{course_id}/materials/{material['id']}"
        resp.media = material
