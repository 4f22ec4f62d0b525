from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs.routing import Route
from libs.scopes import PREP_ONLY, PREP_OR_CHECK
from libs.storage import Storage
from services.uploads.resources import MaterialCollection, MaterialItem

MATERIALS = "/api/v1/courses/{course_id:uuid}/materials"

SCHEMAS = {
    "MaterialForm": {
        "type": "object",
        "required": ["source_type"],
        "properties": {
            "source_type": {"type": "string", "enum": ["video", "presentation", "text", "web"]},
            "file": {"type": "string", "format": "binary"},
            "source_url": {"type": "string", "format": "uri", "maxLength": 2048},
        },
    },
    "MaterialList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Material"}}},
    },
}


def routes(
    pool: ConnectionPool | None = None, storage: Storage | None = None, *, max_upload_bytes: int = 1024**3
) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    return [
        Route(
            MATERIALS, MaterialCollection(pool, storage, max_upload_bytes), {"POST": PREP_ONLY, "GET": PREP_OR_CHECK}
        ),
        Route(
            MATERIALS + "/{material_id:uuid}", MaterialItem(pool, storage), {"GET": PREP_OR_CHECK, "DELETE": PREP_ONLY}
        ),
    ]
