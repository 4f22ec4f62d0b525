"""The agent service's route table: jobs and extracted documents, with the scopes that may call them."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs import documents, materials, queue, structure_versions
from libs.pagination import page_schema
from libs.routing import Route
from libs.scopes import PREP_ONLY, PREP_OR_CHECK
from libs.settings import Settings
from services.agent.resources import (
    STRUCTURE_REQUEST,
    JobItem,
    MaterialDocument,
    StructureRuns,
    StructureVersion,
    StructureVersions,
)

COURSE = "/api/v1/courses/{course_id:uuid}"

SCHEMAS = {
    "Job": queue.JOB_SCHEMA,
    "DocumentPage": {
        **page_schema(documents.CHUNK_SCHEMA),
        "required": ["material_id", "status", "items", "total", "limit", "next_cursor"],
        "properties": {
            **page_schema(documents.CHUNK_SCHEMA)["properties"],
            "material_id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": list(materials.STATUSES)},
        },
    },
    "StructureRequest": STRUCTURE_REQUEST.schema(),
    "StructureRun": {
        "type": "object",
        "required": ["job_id"],
        "properties": {"job_id": {"type": "string", "format": "uuid"}},
    },
    "StructureVersionPage": page_schema(structure_versions.SUMMARY_SCHEMA),
    "StructureVersion": structure_versions.VERSION_SCHEMA,
}


def routes(pool: ConnectionPool | None = None, settings: Settings | None = None) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    return [
        Route("/api/v1/jobs/{job_id:uuid}", JobItem(pool), {"GET": PREP_OR_CHECK}),
        Route(COURSE + "/materials/{material_id:uuid}/document", MaterialDocument(pool), {"GET": PREP_OR_CHECK}),
        Route(COURSE + "/structure", StructureRuns(pool, settings), {"POST": PREP_ONLY}),
        Route(COURSE + "/structure/versions", StructureVersions(pool), {"GET": PREP_OR_CHECK}),
        Route(
            COURSE + "/structure/versions/{version:int(min=1,max=2147483647)}",
            StructureVersion(pool),
            {"GET": PREP_OR_CHECK},
        ),
    ]
