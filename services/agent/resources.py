"""HTTP resources of the agent service: jobs, extracted documents, structure runs and versions."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import falcon
import psycopg
from psycopg.errors import UniqueViolation
from psycopg_pool import ConnectionPool

from libs.access.auth import tenant_of
from libs.errors import BudgetExceeded, Conflict, Invalid, NotFound
from libs.http.openapi import Operations, error, json_content, ref
from libs.http.pagination import POSITION_PARAMETERS, encode_position, position_page_of, position_request
from libs.http.routing import API_PREFIX
from libs.http.validation import (
    UUID_PATTERN,
    Boolean,
    Choice,
    Integer,
    Object,
    Text,
    json_body,
    query,
    query_parameters,
    validate,
)
from libs.jobs import queue
from libs.llm import budget
from libs.llm.providers import require_a_provider
from libs.llm.registry import STRATEGIES
from libs.llm.router import LlmRouter
from libs.platform.settings import Settings
from libs.store import materials, structure
from services.agent import documents, structure_diff, structure_versions
from services.agent.architect import inputs
from services.agent.architect.estimate import estimate_run

STRUCTURE_REQUEST = Object(
    {
        "strategy": Choice(STRATEGIES, description="Which model chain to use (default when absent)"),
        "force": Boolean(description="Run even when nothing the last run depended on has changed"),
        "discard_edits": Boolean(
            description="Forget the author's edits first (edited fields, items added and deleted by hand): the run's"
            " answer becomes the whole structure"
        ),
    }
)


def _one_run_at_a_time() -> Conflict:
    # jobs_one_structure_run_per_course: a run and a refine of a course never overlap, and the
    # check and the insert cannot race
    return Conflict("A structure run of this course is already queued or running; follow its job.")


def _done_materials(conn: psycopg.Connection, tenant: str, course: str) -> list[dict]:
    return [m for m in materials.list_for_course(conn, tenant, course) if m["status"] == "done"]


def _require_spend_allowed(
    conn: psycopg.Connection,
    settings: Settings,
    router: LlmRouter | None,
    tenant: str,
    done: list[dict],
    strategy: str,
) -> None:
    """402 when this month's LLM budget is spent, or when the estimated cost of a run over the
    ``done`` materials passes the per-run limit (LLM_RUN_LIMIT_USD), with the figures."""
    budget.require_room(conn, tenant, settings.llm_monthly_budget_usd)
    if router is None or not settings.llm_run_limit_usd:
        return
    sizes = documents.text_sizes(conn, tenant, [str(m["id"]) for m in done])
    estimate = estimate_run(router, sizes, strategy=strategy, sections=len({m["section"] for m in done}) or 1)
    if estimate.cost_usd > settings.llm_run_limit_usd:
        raise BudgetExceeded(
            f"This run would cost about ${estimate.cost_usd:.2f} in about {estimate.calls} model calls, more than"
            f" the ${settings.llm_run_limit_usd:.2f} one run may cost here (LLM_RUN_LIMIT_USD); split the"
            " materials into smaller courses or ask the operator to raise the limit.",
            details={**estimate.as_dict(), "run_limit_usd": float(settings.llm_run_limit_usd)},
        )


def _queue_run(conn: psycopg.Connection, tenant: str, course: str, payload: dict, resp: falcon.Response) -> None:
    """Queue a structure run or refine (``payload``) and answer 202 with its job."""
    job_id = queue.enqueue(conn, tenant, "generate_structure", course_id=course, payload=payload, max_attempts=2)
    resp.status = falcon.HTTP_202
    resp.location = f"{API_PREFIX}/jobs/{job_id}"
    resp.media = {"job_id": job_id}


class JobItem:
    """A job of the tenant: kind, status, stage, progress, attempts, timestamps, error, result."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "A job's status and progress",
            "responses": {"200": {"description": "The job", "content": json_content(ref("Job"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: object) -> None:
        with self._pool.connection() as conn:
            resp.media = queue.get(conn, tenant_of(req), str(job_id))


class MaterialDocument:
    """The document ingestion extracted from a material, a page of chunks at a time."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The material's extracted document: typed chunks in order, paginated",
            "description": f"A chunk holds at most {documents.CHUNK_MAX_CHARS} characters (a longer passage is"
            f" consecutive chunks with the same metadata); a page holds up to limit chunks and about"
            f" {documents.PAGE_MAX_BYTES // 1024} KiB of text, at least one chunk: follow next_cursor.",
            "parameters": POSITION_PARAMETERS,
            "responses": {"200": {"description": "One page of chunks", "content": json_content(ref("DocumentPage"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object, material_id: object) -> None:
        request = position_request(req)
        tenant, material = tenant_of(req), str(material_id)
        with self._pool.connection() as conn, conn.transaction():
            status = materials.get(conn, tenant, str(course_id), material)["status"]
            rows, cut = documents.page_within(conn, tenant, material, after=request.after, limit=request.fetch)
            total = documents.count(conn, tenant, material)
        page = position_page_of(rows, request, total)
        if cut:  # the page's byte budget ended it: the rest follows from its last chunk
            page["next_cursor"] = encode_position(rows[-1]["position"])
        resp.media = {"material_id": material, "status": status, **page}


class StructureRuns:
    """``POST``: queue an ArchitectAgent run over the course's done materials (202 with its job)."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Generate the course's structure from its done materials (an ArchitectAgent job)",
            "requestBody": {"required": True, "content": json_content(ref("StructureRequest"))},
            "responses": {
                "200": {
                    "description": "Nothing the last successful run depended on has changed (materials, slide"
                    " mapping, course fields, prompts, strategy, models): its version, and no new run",
                    "content": json_content(ref("StructureUnchanged")),
                },
                "202": {"description": "The run is queued", "content": json_content(ref("StructureRun"))},
                "402": error("This month's LLM budget is spent, or the run's estimated cost passes the per-run limit"),
                "409": error("A structure run of this course is already queued or running"),
                "503": error("No LLM provider is configured"),
            },
        }
    }

    def __init__(self, pool: ConnectionPool, settings: Settings, router: LlmRouter | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self._router = router

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        body = validate(json_body(req) if req.content_length else {}, STRUCTURE_REQUEST)  # no body: defaults
        strategy = body.get("strategy") or "default"
        tenant, course = tenant_of(req), str(course_id)
        try:
            with self._pool.connection() as conn, conn.transaction():
                structure.course_brief(conn, tenant, course)  # 404 for another tenant's course
                done = _done_materials(conn, tenant, course)
                if not done:
                    raise Invalid(
                        "materials: no material of this course is done yet; upload materials and wait for their"
                        " ingestion to finish",
                        field="materials",
                    )
                last = structure_versions.latest_with_inputs(conn, tenant, course)
                if (
                    last is not None
                    and self._router is not None
                    and not (body.get("force") or body.get("discard_edits"))
                ):
                    models = inputs.reachable_models(self._router.registry, self._router.adapters, strategy)
                    if last[1] == inputs.fingerprint(conn, tenant, course, strategy=strategy, models=models):
                        resp.media = {**last[0], "unchanged": True}  # 200: the version that has it all
                        return
                require_a_provider(self._settings)
                _require_spend_allowed(conn, self._settings, self._router, tenant, done, strategy)
                payload = {"strategy": strategy, **({"discard_edits": True} if body.get("discard_edits") else {})}
                _queue_run(conn, tenant, course, payload, resp)
        except UniqueViolation:
            raise _one_run_at_a_time() from None


class StructureVersions:
    """Snapshots of each successful structure run, oldest first."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The course's structure versions: job, model, cost, counts, time",
            "parameters": POSITION_PARAMETERS,
            "responses": {"200": {"description": "One page", "content": json_content(ref("StructureVersionPage"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        request = position_request(req)
        tenant, course = tenant_of(req), str(course_id)
        with self._pool.connection() as conn, conn.transaction():
            structure.course_brief(conn, tenant, course)
            rows = structure_versions.page(conn, tenant, course, after=request.after, limit=request.fetch)
            total = structure_versions.count(conn, tenant, course)
        resp.media = position_page_of(rows, request, total, key="version")


class StructureVersion:
    """One structure version with the document as it was."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "One structure version and its document",
            "responses": {"200": {"description": "The version", "content": json_content(ref("StructureVersion"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object, version: int) -> None:
        with self._pool.connection() as conn:
            resp.media = structure_versions.get(conn, tenant_of(req), str(course_id), version)


DIFF_QUERY = {
    "against": Integer(
        minimum=0, maximum=2147483647, description="The version to compare with (default: the one before; 0: none)"
    )
}


class StructureVersionDiff:
    """What changed from one version to another, by item id and kind."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "Items added, removed and changed between two versions, each changed field before and after",
            "parameters": query_parameters(DIFF_QUERY),
            "responses": {"200": {"description": "The differences", "content": json_content(ref("StructureDiff"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object, version: int) -> None:
        against = query(req, DIFF_QUERY).get("against", version - 1)
        tenant, course = tenant_of(req), str(course_id)
        with self._pool.connection() as conn, conn.transaction():
            after = structure_versions.get(conn, tenant, course, version)["document"]
            before = structure_versions.get(conn, tenant, course, against)["document"] if against else {}
        resp.media = {"version": version, "against": against, **structure_diff.diff(before, after)}


class StructureRestore:
    """Bring a version back: the structure as it was, with its ids, recorded as a new version."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Restore a version: the structure as it was, ids included, kept as a new version"
            " (the author's unsaved edits are kept as a version first)",
            "responses": {"200": {"description": "The new version", "content": json_content(ref("StructureVersion"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: object, version: int) -> None:
        tenant, course = tenant_of(req), str(course_id)
        with self._pool.connection() as conn, conn.transaction():
            document = structure_versions.get(conn, tenant, course, version)["document"]
            if any("id" not in module for module in document.get("modules", [])):
                # versions recorded before ids were kept hold the model's answer, not the structure
                raise Conflict("This version was recorded before structures kept their ids: it cannot be restored.")
            structure_versions.keep_edits(conn, tenant, course)
            structure.restore(conn, tenant, course, document.get("modules", []), course=document.get("course"))
            now = structure_versions.snapshot(conn, tenant, course)
            number = structure_versions.record(
                conn,
                tenant,
                course,
                job_id=None,
                model=None,
                cost_usd=Decimal(0),
                counts=structure_versions.counts(now),
                document=now,
                origin="restore",
                restored_from=version,
            )
            resp.media = structure_versions.get(conn, tenant, course, number)


REFINE_REQUEST = Object(
    {
        "instructions": Text(
            max_length=4000, min_length=1, required=True, description="What to change, in the author's words"
        ),
        "target": Object(
            {
                "module_id": Text(
                    max_length=36, pattern=UUID_PATTERN, pattern_hint="a module id (UUID)", format="uuid"
                ),
                "lesson_id": Text(
                    max_length=36, pattern=UUID_PATTERN, pattern_hint="a lesson id (UUID)", format="uuid"
                ),
            },
            min_properties=1,
            max_properties=1,
            description="The part to refine: one module or one lesson (the whole course when absent)",
        ),
        "strategy": Choice(STRATEGIES, description="Which model chain to use (default when absent)"),
    }
)


class StructureRefine:
    """``POST``: change the structure, or one module or lesson of it, as instructions say (202
    with its job): a refine keeps ids, edits and everything outside its target."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Refine the structure (or one module or lesson) with instructions: an ArchitectAgent job",
            "requestBody": {"required": True, "content": json_content(ref("RefineRequest"))},
            "responses": {
                "202": {"description": "The refine is queued", "content": json_content(ref("StructureRun"))},
                "402": error(
                    "This month's LLM budget is spent, or the refine's estimated cost passes the per-run limit"
                ),
                "409": error("A structure run or refine of this course is already queued or running"),
                "503": error("No LLM provider is configured"),
            },
        }
    }

    def __init__(self, pool: ConnectionPool, settings: Settings, router: LlmRouter | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self._router = router

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        body = validate(json_body(req), REFINE_REQUEST)
        target = body.get("target") or {}
        tenant, course = tenant_of(req), str(course_id)
        try:
            with self._pool.connection() as conn, conn.transaction():
                structure.course_brief(conn, tenant, course)  # 404 for another tenant's course
                for field, kind in (("module_id", "modules"), ("lesson_id", "lessons")):
                    if field in target and not structure.has_item(conn, tenant, course, kind, target[field]):
                        raise NotFound(f"No {kind[:-1]} with this id in this course.")
                if not structure.read(conn, tenant, course):
                    raise Invalid(
                        "structure: the course has no structure to refine yet; run it first", field="structure"
                    )
                require_a_provider(self._settings)
                strategy = body.get("strategy") or "default"
                done = _done_materials(conn, tenant, course)
                _require_spend_allowed(conn, self._settings, self._router, tenant, done, strategy)
                payload = {
                    "strategy": strategy,
                    "refine": {"instructions": body["instructions"], **target},
                }
                _queue_run(conn, tenant, course, payload, resp)
        except UniqueViolation:
            raise _one_run_at_a_time() from None
