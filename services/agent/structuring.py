"""The ``generate_structure`` job: the ArchitectAgent over the course's done documents and
slide mapping, concept embeddings, then the course's structure replaced in one transaction
(keeping the id of every item it matches: libs/store/structure_match.py) and kept as a new
version."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from decimal import Decimal

from psycopg_pool import ConnectionPool

from libs.errors import NotFound
from libs.jobs import queue
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.router import LlmRouter
from libs.store import materials, slide_mapping, structure
from services.agent import documents, structure_versions
from services.agent.architect import ArchitectAgent, ArchitectError, MaterialText, Outcome, inputs
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
        try:
            outcomes = []
            for section, members in _by_section(done, texts):
                outcome = self._agent.run(
                    tenant_id=tenant,
                    job_id=job.id,
                    course=course,
                    materials=members,
                    slide_mapping=mapping,
                    strategy=strategy,
                    progress=progress,
                    summaries=self._summaries,
                )
                outcomes.append(_as_module(outcome, section) if section else outcome)
            outcome = _together(outcomes)
        except (NoProviderConfigured, ArchitectError) as exc:
            raise queue.Permanent(str(exc)) from None
        except AllModelsFailed as exc:
            # the detail (provider messages, model names) is for operators: log and llm_calls
            log.warning("structure run of job %s: %s", job.id, exc)
            raise queue.Transient("the language models could not produce the structure") from None
        progress("embedding concepts", 85)
        embeddings, embedding_cost = self._embed(tenant, job.id, outcome.modules)
        progress("saving", 95)
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
            # untouched course fingerprints the same and is answered with this version
            models = inputs.reachable_models(self._router.registry, self._router.adapters, strategy)
            fingerprint = inputs.fingerprint(conn, tenant, course_id, strategy=strategy, models=models)
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
            )
        return {
            "version": version,
            "model": outcome.model,
            "provider": outcome.provider,
            "cost_usd": float(outcome.cost_usd + embedding_cost),
            "counts": counts,
            "dropped": outcome.dropped,
            "condensed_materials": len(outcome.condensed),
            "embeddings": embeddings,
        }

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
        except AllModelsFailed as exc:
            log.warning("concept embeddings failed, the structure is kept without them: %s", exc)
            return "failed: the embedding provider did not answer; concepts have no embeddings", Decimal(0)
        for concept, vector in zip(concepts, vectors.vectors, strict=True):
            concept["embedding"] = vector
        return f"stored for {len(concepts)} concepts with {vectors.model}", vectors.cost_usd


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
