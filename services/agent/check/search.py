"""Concept search: cosine similarity between the question's embedding and the course's
concept embeddings (pgvector, HNSW), or full-text search where the course has none.

Query embeddings are cached in Redis by model and normalised question: the same question is
asked by many students, and an embedding call costs a round trip to the provider and money.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata

import psycopg
import redis
from psycopg_pool import ConnectionPool

from libs.errors import BudgetExceeded
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.registry import EMBEDDING_ACTION
from libs.llm.router import LlmRouter
from libs.store import concept_search, courses

log = logging.getLogger(__name__)
EMBEDDING = "embedding"
FULL_TEXT = "full_text"
METHODS = (EMBEDDING, FULL_TEXT)
CACHE_TTL_SECONDS = 7 * 24 * 3600
# a course's common words live as long as its revision does, or a day when it is not read
COMMON_WORDS_TTL_SECONDS = 24 * 3600


def normalize(q: str) -> str:
    """The question as the cache sees it: Unicode-normalised, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFKC", q).casefold().split())


def cache_key(model: str, q: str) -> str:
    """The Redis key of ``q``'s embedding by ``model``: a hash, so no question text sits in Redis keys."""
    return f"search:embedding:{model}:{hashlib.sha256(normalize(q).encode()).hexdigest()}"


def vector_text(vector: list[float]) -> str:
    """pgvector's text form of ``vector``, which the cache keeps and the query takes as is."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class ConceptSearch:
    """Searches a course's concepts; see the module docstring."""

    def __init__(self, pool: ConnectionPool, router: LlmRouter, redis_client: redis.Redis) -> None:
        self._pool = pool
        self._router = router
        self._redis = redis_client

    def search(self, tenant_id: str, course_id: str, q: str, limit: int) -> dict:
        """``{query, method, fallback_reason, items}``; NotFound for another tenant's course."""
        with self._pool.connection() as conn:  # another tenant's course has none: 404 below
            embedded = concept_search.embedded_concepts(conn, tenant_id, course_id)
        vector, reason = self._query_vector(tenant_id, q) if embedded else (None, "the course has no embeddings")
        with self._pool.connection() as conn, conn.transaction():
            if vector is not None:
                rows = concept_search.search_similar(conn, tenant_id, course_id, vector, limit, embedded=embedded)
            else:
                common = self._common_words(conn, tenant_id, course_id)
                rows = concept_search.search_text(conn, tenant_id, course_id, q, limit, common=common)
        return {
            "query": q,
            "method": EMBEDDING if vector is not None else FULL_TEXT,
            "fallback_reason": reason,
            "items": [_hit(row) for row in rows],
        }

    def _common_words(self, conn: psycopg.Connection, tenant_id: str, course_id: str) -> frozenset[str]:
        """The course's common words, kept in Redis for its revision (every change to the
        structure bumps it, so a kept list is never stale); NotFound for another tenant's course."""
        key = f"search:common-words:{course_id}:{courses.current_revision(conn, tenant_id, course_id)}"
        try:
            cached = self._redis.get(key)
        except redis.RedisError as exc:  # a cache: without it every question pays the count
            log.warning("search word cache unavailable: %s", exc)
            cached = None
        if cached is not None:
            return frozenset(json.loads(cached))
        words = concept_search.common_words(conn, tenant_id, course_id)
        try:
            self._redis.set(key, json.dumps(words), ex=COMMON_WORDS_TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning("search word cache unavailable: %s", exc)
        return frozenset(words)

    def _query_vector(self, tenant_id: str, q: str) -> tuple[str | None, str | None]:
        """The question's embedding in pgvector's text form, from the cache or the provider;
        (None, why) when no embedding can be had, so search falls back to full text."""
        chain = self._router.registry.chain(EMBEDDING_ACTION, "default")
        key = cache_key(chain[0].name if chain else "none", q)
        try:
            cached = self._redis.get(key)
        except redis.RedisError as exc:  # a cache, not a dependency: search goes on without it
            log.warning("search embedding cache unavailable: %s", exc)
            cached = None
        if cached is not None:
            return cached.decode(), None
        try:
            found = self._router.embed(tenant_id=tenant_id, job_id=None, texts=[normalize(q)])
        except NoProviderConfigured:
            return None, "no embedding provider is configured"
        except BudgetExceeded:
            return None, "this month's LLM budget is spent"
        except AllModelsFailed as exc:
            log.warning("query embedding failed, searching full text: %s", exc)
            return None, "the embedding provider did not answer"
        vector = vector_text(found.vectors[0])
        try:
            self._redis.set(key, vector, ex=CACHE_TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning("search embedding cache unavailable: %s", exc)
        return vector, None


def _hit(row: dict) -> dict:
    return {
        "concept_id": row["id"],
        "title": row["title"],
        "definition": row["definition"],
        "score": round(float(row["score"]), 6),
        "timecodes": row["timecodes"],
        "slide_references": row["slide_references"],
        "web_references": row["web_references"],
        "lesson": {
            "id": row["lesson_id"],
            "title": row["lesson_title"],
            "video_start_timecode": row["video_start_timecode"],
            "slide_start": row["slide_start"],
        },
        "module": {"id": row["module_id"], "title": row["module_title"]},
    }
