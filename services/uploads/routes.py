"""The uploads service's route table and the schemas of its bodies and answers."""

from __future__ import annotations

import redis
from psycopg_pool import ConnectionPool

from libs.access.scopes import PREP_ONLY, PREP_OR_CHECK
from libs.http.pagination import page_schema
from libs.http.routing import Route
from libs.platform.settings import DEFAULT_MAX_UPLOAD_BYTES
from libs.platform.storage import Storage
from libs.schemas.material import MATERIAL_SCHEMA
from libs.store import materials, storage_usage
from services.uploads.direct_upload import DirectUploads
from services.uploads.direct_upload_resources import (
    COMPLETION,
    DIRECT_UPLOAD_SCHEMA,
    FILE_TYPES,
    DirectUploadCollection,
    DirectUploadCompletion,
    DirectUploadItem,
    DirectUploadParts,
)
from services.uploads.resources import MATERIAL_PATCH, MaterialCollection, MaterialItem, MaterialRetry, StorageUsage
from services.uploads.upload_janitor import UploadJanitor
from services.uploads.upload_slots import UploadSlots

MATERIALS = "/api/v1/courses/{course_id:uuid}/materials"
UPLOADS = MATERIALS + "/uploads"

SCHEMAS = {
    "MaterialForm": {
        "type": "object",
        "required": ["source_type"],
        "properties": {
            "source_type": {"type": "string", "enum": list(materials.SOURCE_TYPES)},
            "file": {"type": "string", "format": "binary", "description": "Required unless source_type is web"},
            "source_url": {
                "type": "string",
                "format": "uri",
                "maxLength": materials.MAX_URL,
                "description": "Only for source_type web: an http(s) URL of a public host, without credentials",
            },
            "section": {
                "type": "string",
                "maxLength": materials.SECTION_MAX,
                "description": "The author's section: a structure run makes one module per section",
            },
            "position": {"type": "integer", "minimum": 0, "maximum": materials.MAX_POSITION},
        },
    },
    "MaterialPatch": MATERIAL_PATCH.schema(require=False),
    "Material": MATERIAL_SCHEMA,
    "MaterialPage": page_schema({"$ref": "#/components/schemas/Material"}),
    "StorageUsage": {
        "type": "object",
        "required": [
            "quota_bytes",
            "used_bytes",
            "reserved_bytes",
            "available_bytes",
            "objects",
            "materials_by_status",
            "courses",
        ],
        "properties": {
            "quota_bytes": {"type": "integer", "description": "The tenant's storage quota; 0: unlimited"},
            "used_bytes": {"type": "integer", "description": "Bytes of the stored material files"},
            "reserved_bytes": {"type": "integer", "description": "Bytes held for uploads in progress"},
            "available_bytes": {
                "type": "integer",
                "nullable": True,
                "description": "What may still be stored (null: unlimited)",
            },
            "objects": {"type": "integer", "description": "Stored material files"},
            "materials_by_status": {
                "type": "object",
                "required": list(materials.STATUSES),
                "properties": {status: {"type": "integer"} for status in materials.STATUSES},
            },
            "courses": page_schema({"$ref": "#/components/schemas/CourseStorage"}),
        },
    },
    "DirectUploadRequest": DIRECT_UPLOAD_SCHEMA,
    "DirectUploadCompletion": COMPLETION.schema(),
    "DirectUpload": {
        "type": "object",
        "required": [
            "id",
            "material_id",
            "filename",
            "source_type",
            "size",
            "sha256",
            "expires_at",
            "method",
            "complete_url",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "material_id": {"type": "string", "format": "uuid", "description": "The material it will become"},
            "filename": {"type": "string"},
            "source_type": {"type": "string", "enum": list(FILE_TYPES)},
            "size": {"type": "integer"},
            "sha256": {"type": "string", "nullable": True},
            "expires_at": {"type": "string", "format": "date-time", "description": "When its URLs stop working"},
            "method": {"type": "string", "enum": ["PUT", "multipart"]},
            "url": {"type": "string", "description": "method PUT: where to PUT the whole file"},
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "method PUT: headers to send with it",
            },
            "part_size": {"type": "integer", "description": "multipart: every part's size but the last's"},
            "part_count": {"type": "integer"},
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["part_number", "size", "url"],
                    "properties": {
                        "part_number": {"type": "integer"},
                        "size": {"type": "integer"},
                        "url": {"type": "string", "description": "PUT this part here; keep the ETag it answers"},
                    },
                },
            },
            "next_part": {"type": "integer", "nullable": True, "description": "The first part not listed"},
            "parts_url": {"type": "string", "description": "multipart: where more part URLs are"},
            "complete_url": {"type": "string", "description": "POST here once the file is sent"},
        },
    },
    "CourseStorage": {
        "type": "object",
        "required": ["id", "title", "created_at", "bytes", "objects", "materials"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "title": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "bytes": {"type": "integer"},
            "objects": {"type": "integer"},
            "materials": {"type": "integer", "description": "Files and web pages"},
        },
    },
}


def routes(
    pool: ConnectionPool | None = None,
    storage: Storage | None = None,
    redis_client: redis.Redis | None = None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    uploads_per_tenant: int = 4,
    janitor: UploadJanitor | None = None,
    default_quota: int = storage_usage.UNLIMITED,
    direct: DirectUploads | None = None,
) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    slots = UploadSlots(redis_client, per_tenant=uploads_per_tenant) if redis_client is not None else None
    direct = direct or DirectUploads(pool, storage, max_upload_bytes=max_upload_bytes, default_quota=default_quota)
    return [
        Route(
            MATERIALS,
            MaterialCollection(pool, storage, slots, max_upload_bytes, janitor, default_quota=default_quota),
            {"POST": PREP_ONLY, "GET": PREP_OR_CHECK},
        ),
        Route(
            MATERIALS + "/{material_id:uuid}",
            MaterialItem(pool, storage),
            {"GET": PREP_OR_CHECK, "PATCH": PREP_ONLY, "DELETE": PREP_ONLY},
        ),
        Route(MATERIALS + "/{material_id:uuid}/retry", MaterialRetry(pool), {"POST": PREP_ONLY}),
        Route(UPLOADS, DirectUploadCollection(direct), {"POST": PREP_ONLY}),
        Route(UPLOADS + "/{upload_id:uuid}", DirectUploadItem(direct, pool), {"GET": PREP_ONLY, "DELETE": PREP_ONLY}),
        Route(UPLOADS + "/{upload_id:uuid}/parts", DirectUploadParts(direct, pool), {"GET": PREP_ONLY}),
        Route(UPLOADS + "/{upload_id:uuid}/complete", DirectUploadCompletion(direct), {"POST": PREP_ONLY}),
        Route("/api/v1/storage/usage", StorageUsage(pool, default_quota), {"GET": PREP_ONLY}),
    ]
