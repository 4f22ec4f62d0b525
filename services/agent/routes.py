"""The agent service's route table: jobs and extracted documents, with the scopes that may call them."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs import documents, materials, queue
from libs.pagination import page_schema
from libs.routing import Route
from libs.scopes import PREP_OR_CHECK
from services.agent.resources import JobItem, MaterialDocument

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
}


def routes(pool: ConnectionPool | None = None) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    return [
        Route("/api/v1/jobs/{job_id:uuid}", JobItem(pool), {"GET": PREP_OR_CHECK}),
        Route(
            "/api/v1/courses/{course_id:uuid}/materials/{material_id:uuid}/document",
            MaterialDocument(pool),
            {"GET": PREP_OR_CHECK},
        ),
    ]
