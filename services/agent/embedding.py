"""The ``embed_concepts`` job: the embeddings of concepts the author added or rewrote (queued by
libs/store/structure_edits.py), so search follows the structure as the author leaves it."""

from __future__ import annotations

from collections.abc import Callable

from psycopg_pool import ConnectionPool

from libs.errors import BudgetExceeded
from libs.jobs import queue
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.router import LlmRouter
from libs.store import structure


class EmbedConcepts:
    """The ``embed_concepts`` job handler."""

    def __init__(self, pool: ConnectionPool, router: LlmRouter) -> None:
        self._pool = pool
        self._router = router

    def __call__(self, job: queue.Job, progress: Callable[[str, int], None]) -> dict:
        with self._pool.connection() as conn:
            texts = structure.concept_texts(conn, job.tenant_id, job.payload.get("concept_ids", []))
        if not texts:
            return {"embedded": 0, "reason": "the concepts were deleted"}
        try:
            found = self._router.embed(
                tenant_id=job.tenant_id,
                job_id=job.id,
                texts=[f"{title}: {definition}" for _, title, definition in texts],
            )
        except NoProviderConfigured:
            # not a failure: search falls back to full text for a concept without one
            return {"embedded": 0, "reason": "no embedding provider is configured"}
        except AllModelsFailed:
            raise queue.Transient("the embedding provider did not answer") from None
        except BudgetExceeded:  # search falls back to full text for these concepts meanwhile
            return {"embedded": 0, "reason": "this month's LLM budget is spent"}
        with self._pool.connection() as conn, conn.transaction():
            queue.hold(conn, job)
            stored = sum(
                structure.set_embedding(conn, job.tenant_id, concept_id, title, definition, vector)
                for (concept_id, title, definition), vector in zip(texts, found.vectors, strict=True)
            )
        return {"embedded": stored, "model": found.model}
