"""The ``generate_structure`` job: the ArchitectAgent over the course's done documents and
slide mapping, concept embeddings, then the course's structure replaced in one transaction
(keeping the id of every item it matches: libs/store/structure_match.py) and kept as a new
version."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from psycopg_pool import ConnectionPool

from libs.errors import BudgetExceeded, NotFound
from libs.jobs import queue
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.router import LlmRouter
from libs.store import materials, slide_mapping, structure
from libs.webhooks import events
from services.agent import documents, structure_versions
from services.agent.architect import ArchitectAgent, ArchitectError, MaterialText, Outcome, inputs, refine
from services.agent.summaries import StoredSummaries

log = logging.getLogger(__name__)


class Structuring:
    """The ``generate_structure`` job handler."""

    def __init__(self, pool: ConnectionPool, router: LlmRouter) -> None:
        self._pool = pool
        self._router = router
        self._agent = ArchitectAgent(router, router.registry)
        self._summaries = StoredSummaries(pool)

    def __call__(self, job: queue.Job, progress: Callable[[str, int], None]) -> dict:
        tenant, course_id = job.tenant_id, str(job.course_id)
        strategy = job.payload.get("strategy", "default")
        progress("reading materials", 5)
        with self._pool.connection() as conn, conn.transaction():
            try:
                course = structure.course_brief(conn, tenant, course_id)
            except NotFound:
                raise queue.Permanent("the course was deleted before its structure could be made") from None
            done = [m for m in materials.list_for_course(conn, tenant, course_id) if m["status"] == "done"]
            texts = [
                MaterialText(
                    id=str(m["id"]),
                    filename=m["filename"],
                    source_type=m["source_type"],
                    source_url=m["source_url"],
                    chunks=documents.read_all(conn, tenant, str(m["id"])),
                )
                for m in done
            ]
            mapping = slide_mapping.list_pairs(conn, tenant, course_id)
        if not texts:
            raise queue.Permanent("no material of the course is done: there is nothing to structure")
        request = job.payload.get("refine")
        context = _Context(job, course, done, texts, mapping, strategy, progress)
        try:
            outcome = self._refine(context, request) if request else self._run(context)
        except (NoProviderConfigured, ArchitectError) as exc:
            raise queue.Permanent(str(exc)) from None
        except BudgetExceeded as exc:
            raise queue.Permanent(f"the run stopped: {exc.description}") from None
        except AllModelsFailed as exc:
            # the detail (provider messages, model names) is for operators: log and llm_calls
            log.warning("structure run of job %s: %s", job.id, exc)
            raise queue.Transient("the language models could not produce the structure") from None
        progress("embedding concepts", 85)
        return self._save(context, outcome, request)

    def _run(self, context: _Context) -> Outcome:
        """A run: the agent over the course's materials, once per section when there are any."""
        outcomes = []
        for section, members in _by_section(context.done, context.texts):
            outcome = self._agent.run(materials=members, summaries=self._summaries, **context.agent_arguments())
            outcomes.append(_as_module(outcome, section) if section else outcome)
        return _together(outcomes)

    def _refine(self, context: _Context, request: dict) -> Outcome:
        """A refine: the course's structure as it stands, the part the author named changed by
        the instructions, from the materials that part is made of (a section's module: that
        section's materials)."""
        tenant, course_id = context.job.tenant_id, str(context.job.course_id)
        with self._pool.connection() as conn:
            modules = structure.read(conn, tenant, course_id)
        target = _target(modules, request)
        members = context.texts
        if target and (section := modules[target[1]]["title"]) in {m["section"] for m in context.done}:
            members = [t for m, t in zip(context.done, context.texts, strict=True) if m["section"] == section]
        return self._agent.refine(
            current=refine.as_answer(context.course, modules),
            target=target,
            instructions=request["instructions"],
            materials=members,
            summaries=self._summaries,
            **context.agent_arguments(),
        )

    def _save(self, context: _Context, outcome: Outcome, request: dict | None) -> dict:
        job, strategy = context.job, context.strategy
        tenant, course_id = job.tenant_id, str(job.course_id)
        embeddings, embedding_cost = self._embed(tenant, job.id, outcome.modules)
        context.progress("saving", 95)
        with self._pool.connection() as conn, conn.transaction():
            queue.hold(conn, job)  # a run that lost its job writes nothing
            structure_versions.keep_edits(conn, tenant, course_id)  # the author's work, kept first
            counts = structure.replace(
                conn,
                tenant,
                course_id,
                outcome.modules,
                course=outcome.course,
                discard_edits=bool(job.payload.get("discard_edits")),
            )
            # the structure as stored, with the ids it kept or gave
            snapshot = structure_versions.snapshot(conn, tenant, course_id)
            # what this run depended on, read after its own writes: the next request for an
            # untouched course fingerprints the same and is answered with this version (a
            # refine's is no run's: the next run asked for runs)
            models = inputs.reachable_models(self._router.registry, self._router.adapters, strategy)
            fingerprint = (
                None if request else inputs.fingerprint(conn, tenant, course_id, strategy=strategy, models=models)
            )
            version = structure_versions.record(
                conn,
                tenant,
                course_id,
                job_id=job.id,
                model=outcome.model,
                cost_usd=outcome.cost_usd + embedding_cost,
                counts=counts,
                document=snapshot,
                inputs=fingerprint,
                origin="refine" if request else "run",
                instructions=request["instructions"] if request else None,
            )
            result = {
                "version": version,
                "model": outcome.model,
                "provider": outcome.provider,
                "cost_usd": float(outcome.cost_usd + embedding_cost),
                "counts": counts,
                "dropped": outcome.dropped,
                "condensed_materials": len(outcome.condensed),
                "embeddings": embeddings,
            }
            summary = {"version": version, "counts": counts, "cost_usd": result["cost_usd"]}
            _emit(conn, job, "structure.succeeded", summary=summary)
        return result

    def failed(self, job: queue.Job, message: str) -> None:
        """The job failed for good: its webhooks hear it (the course's structure is as it was)."""
        with self._pool.connection() as conn:
            _emit(conn, job, "structure.failed", error=message)

    def _embed(self, tenant: str, job_id: str, modules: list[dict]) -> tuple[str, Decimal]:
        """Fill each concept's ``embedding``; without an embedding provider they stay empty and
        the result says why, since the structure is worth keeping without them."""
        concepts = [c for m in modules for lesson in m["lessons"] for c in lesson["concepts"]]
        if not concepts:
            return "none: no concepts", Decimal(0)
        try:
            vectors = self._router.embed(
                tenant_id=tenant, job_id=job_id, texts=[f"{c['title']}: {c['definition']}" for c in concepts]
            )
        except NoProviderConfigured:
            return "skipped: no embedding provider is configured (OPENAI_API_KEY or OPENAI_BASE_URL)", Decimal(0)
        except BudgetExceeded:  # the structure it would have embedded is paid for: kept
            return "skipped: this month's LLM budget is spent; concepts have no embeddings", Decimal(0)
        except AllModelsFailed as exc:
            log.warning("concept embeddings failed, the structure is kept without them: %s", exc)
            return "failed: the embedding provider did not answer; concepts have no embeddings", Decimal(0)
        for concept, vector in zip(concepts, vectors.vectors, strict=True):
            concept["embedding"] = vector
        return f"stored for {len(concepts)} concepts with {vectors.model}", vectors.cost_usd


def _emit(conn: psycopg.Connection, job: queue.Job, event_type: str, **outcome: object) -> None:
    data = {
        "course_id": job.course_id,
        "job_id": job.id,
        "origin": "refine" if job.payload.get("refine") else "run",
        **outcome,
    }
    events.emit(conn, job.tenant_id, event_type, about=f"course:{job.course_id}", data=data)


@dataclass(frozen=True)
class _Context:
    """What a job read before it asks the agent anything."""

    job: queue.Job
    course: dict
    done: list[dict]  # the done materials' rows, in the author's order
    texts: list[MaterialText]  # their documents, in the same order
    mapping: list[dict]
    strategy: str
    progress: Callable[[str, int], None]

    def agent_arguments(self) -> dict:
        return {
            "tenant_id": self.job.tenant_id,
            "job_id": self.job.id,
            "course": self.course,
            "slide_mapping": self.mapping,
            "strategy": self.strategy,
            "progress": self.progress,
        }


def _target(modules: list[dict], request: dict) -> tuple:
    """The refine's part of ``modules`` by index: ``()`` all, ``("module", m)``, ``("lesson", m, l)``;
    a part gone since the request was accepted is a permanent failure."""
    for m, module in enumerate(modules):
        if str(module["id"]) == request.get("module_id"):
            return ("module", m)
        for n, lesson in enumerate(module["lessons"]):
            if str(lesson["id"]) == request.get("lesson_id"):
                return ("lesson", m, n)
    if request.get("module_id") or request.get("lesson_id"):
        raise queue.Permanent("the part of the structure to refine was removed before the refine ran")
    return ()


def _by_section(rows: list[dict], texts: list[MaterialText]) -> list[tuple[str | None, list[MaterialText]]]:
    """The materials grouped by the author's sections, in the order of their first material
    (the author's order: rows come by position), the materials without one last; one group of
    all of them when no material has a section, as the model organises a course by itself."""
    groups: dict[str | None, list[MaterialText]] = {}
    for row, text in zip(rows, texts, strict=True):
        groups.setdefault(row["section"], []).append(text)
    if list(groups) == [None]:
        return [(None, texts)]
    unsectioned = groups.pop(None, [])
    return [*groups.items(), *([(None, unsectioned)] if unsectioned else [])]


def _as_module(outcome: Outcome, section: str) -> Outcome:
    """A section's run as one module named after the section, holding every lesson the model
    made of its materials: the author's organisation wins over the model's."""
    first = outcome.modules[0]
    lessons = [lesson for module in outcome.modules for lesson in module["lessons"]]
    return dataclasses.replace(outcome, modules=[{**first, "title": section, "lessons": lessons}])


def _together(outcomes: list[Outcome]) -> Outcome:
    """The runs of a course's sections as one: their modules in order, the course's fields from
    the first, costs, tokens, drops and condensed materials added up."""
    if len(outcomes) == 1:
        return outcomes[0]
    dropped: dict[str, int] = {}
    for outcome in outcomes:
        for name, count in outcome.dropped.items():
            dropped[name] = dropped.get(name, 0) + count
    return dataclasses.replace(
        outcomes[0],
        modules=[module for outcome in outcomes for module in outcome.modules],
        dropped=dropped,
        cost_usd=sum((outcome.cost_usd for outcome in outcomes), Decimal(0)),
        tokens_in=sum(outcome.tokens_in for outcome in outcomes),
        tokens_out=sum(outcome.tokens_out for outcome in outcomes),
        condensed=[material for outcome in outcomes for material in outcome.condensed],
    )
