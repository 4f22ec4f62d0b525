"""The uploads service's route table and the schemas of its bodies and answers."""

from __future__ import annotations

import redis
from psycopg_pool import ConnectionPool

from libs.access.scopes import PREP_ONLY, PREP_OR_CHECK
from libs.http.pagination import page_schema
from libs.http.routing import Route
from libs.platform.storage import Storage
from libs.schemas.material import MATERIAL_SCHEMA
from libs.store import materials, storage_usage
from services.uploads.resources import MATERIAL_PATCH, MaterialCollection, MaterialItem, MaterialRetry, StorageUsage
from services.uploads.upload_janitor import UploadJanitor
from services.uploads.upload_slots import UploadSlots

MATERIALS = "/api/v1/courses/{course_id:uuid}/materials"

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
    max_upload_bytes: int = 1024**3,
    uploads_per_tenant: int = 4,
    janitor: UploadJanitor | None = None,
    default_quota: int = storage_usage.UNLIMITED,
) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    slots = UploadSlots(redis_client, per_tenant=uploads_per_tenant) if redis_client is not None else None
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
        Route("/api/v1/storage/usage", StorageUsage(pool, default_quota), {"GET": PREP_ONLY}),
    ]
