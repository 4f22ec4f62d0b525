"""The agent service's route table: jobs, extracted documents, structure runs, and the check scope's
submissions, progress and search, with the scopes that may call them."""

from __future__ import annotations

import redis
from psycopg_pool import ConnectionPool

from libs.access.scopes import CHECK_ONLY, PREP_ONLY, PREP_OR_CHECK
from libs.http.pagination import page_schema
from libs.http.routing import Route
from libs.llm.registry import load_registry
from libs.llm.router import LlmRouter
from libs.platform.settings import Settings
from libs.store import materials
from services.agent import documents, jobs, structure_diff, structure_versions
from services.agent.check import resources as check
from services.agent.check.search import ConceptSearch
from services.agent.check.submit import Submitter
from services.agent.resources import (
    REFINE_REQUEST,
    STRUCTURE_REQUEST,
    JobItem,
    MaterialDocument,
    StructureRefine,
    StructureRestore,
    StructureRuns,
    StructureVersion,
    StructureVersionDiff,
    StructureVersions,
)

COURSE = "/api/v1/courses/{course_id:uuid}"
VERSION = COURSE + "/structure/versions/{version:int(min=1,max=2147483647)}"

SCHEMAS = {
    "Job": jobs.JOB_SCHEMA,
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
    "RefineRequest": REFINE_REQUEST.schema(),
    "StructureRun": {
        "type": "object",
        "required": ["job_id"],
        "properties": {"job_id": {"type": "string", "format": "uuid"}},
    },
    "StructureUnchanged": {
        **structure_versions.SUMMARY_SCHEMA,
        "required": [*structure_versions.SUMMARY_SCHEMA["required"], "unchanged"],
        "properties": {
            **structure_versions.SUMMARY_SCHEMA["properties"],
            "unchanged": {"type": "boolean", "enum": [True]},
        },
    },
    "StructureVersionPage": page_schema(structure_versions.SUMMARY_SCHEMA),
    "StructureVersion": structure_versions.VERSION_SCHEMA,
    "StructureDiff": structure_diff.SCHEMA,
    "DiffItem": structure_diff.ITEM_SCHEMA,
    **check.SCHEMAS,
}


def routes(
    pool: ConnectionPool | None = None, settings: Settings | None = None, redis_client: redis.Redis | None = None
) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    submitter = searcher = router = None
    if pool is not None and settings is not None:
        router = LlmRouter(settings, load_registry(), pool)
        submitter = Submitter(pool, router, settings)
        searcher = ConceptSearch(pool, router, redis_client)
    exercise = COURSE + "/exercises/{exercise_id:uuid}/submissions"
    return [
        Route("/api/v1/jobs/{job_id:uuid}", JobItem(pool), {"GET": PREP_OR_CHECK}),
        Route(COURSE + "/materials/{material_id:uuid}/document", MaterialDocument(pool), {"GET": PREP_OR_CHECK}),
        Route(COURSE + "/structure", StructureRuns(pool, settings, router), {"POST": PREP_ONLY}),
        Route(COURSE + "/structure/refine", StructureRefine(pool, settings, router), {"POST": PREP_ONLY}),
        Route(COURSE + "/structure/versions", StructureVersions(pool), {"GET": PREP_OR_CHECK}),
        Route(
            COURSE + "/structure/versions/{version:int(min=1,max=2147483647)}",
            StructureVersion(pool),
            {"GET": PREP_OR_CHECK},
        ),
        Route(VERSION + "/diff", StructureVersionDiff(pool), {"GET": PREP_OR_CHECK}),
        Route(VERSION + "/restore", StructureRestore(pool), {"POST": PREP_ONLY}),
        # the check scope
        Route(exercise, check.Submissions(pool, submitter), {"POST": CHECK_ONLY, "GET": CHECK_ONLY}),
        Route(exercise + "/{submission_id:uuid}", check.Submission(pool), {"GET": CHECK_ONLY}),
        Route("/api/v1/students/{student_id}/progress", check.Progress(pool), {"GET": CHECK_ONLY}),
        Route(COURSE + "/search", check.Search(searcher), {"GET": PREP_OR_CHECK}),
    ]
