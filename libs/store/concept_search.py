"""Concept search over a course's structure: by embedding (pgvector, exact or through the HNSW
index) or by PostgreSQL full text. The concepts table's owner is :mod:`libs.store.structure`;
these are its read-only queries for search, kept apart because they are a concern of their own
(index choice, planner settings, ranking). Every query takes the tenant id."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

# What a search hit shows: the concept with its references, and where it is taught.
_HIT = """c.id, c.title, c.definition, c.timecodes, c.slide_references, c.web_references,
          l.id AS lesson_id, l.title AS lesson_title, l.video_start_timecode, l.slide_start,
          m.id AS module_id, m.title AS module_title"""
_HIT_JOINS = """JOIN lessons l ON l.id = c.lesson_id AND l.tenant_id = %(tenant)s
                JOIN modules m ON m.id = l.module_id AND m.tenant_id = %(tenant)s"""
# Counted up to a cap: past it the exact answer does not matter, and counting stops there.
_EMBEDDED = """SELECT count(*) FROM (SELECT 1 FROM concepts
                WHERE course_id = %s AND tenant_id = %s AND embedding IS NOT NULL LIMIT %s) embedded"""
# Up to this many embedded concepts a course is searched exactly (its rows through
# concepts_course_idx, every distance computed and sorted: about 10 ms for a thousand 1536-
# dimension vectors); past it through the HNSW index. The planner cannot make this choice
# itself: it prices a vector distance like an integer comparison, so it sorts a 10 000-concept
# course (~80 ms) rather than walk the graph (~3 ms).
EXACT_SEARCH_MAX = 1000
# The inner query is the one the HNSW index (concepts_embedding_idx) can serve: ORDER BY the
# distance LIMIT k. The index holds every course's concepts, so the course filter applies
# after it; iterative scanning (pgvector 0.8) keeps reading the graph until k rows of this
# course are found, instead of returning fewer.
_SIMILAR = f"""
SELECT {_HIT}, 1 - c.distance AS score
  FROM (SELECT id, lesson_id, position, title, definition, timecodes, slide_references, web_references,
               embedding <=> %(vector)s::vector AS distance
          FROM concepts
         WHERE course_id = %(course)s AND tenant_id = %(tenant)s AND embedding IS NOT NULL
         ORDER BY embedding <=> %(vector)s::vector
         LIMIT %(limit)s) c
  {_HIT_JOINS}
 ORDER BY c.distance, c.id
"""  # noqa: S608 (constants only)
# For a big course: sorting every distance is priced out, so the plan is the index's walk.
_INDEX_SEARCH = (
    "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', %s, true),"
    " set_config('enable_sort', 'off', true)"
)
# Full text over each concept's stored vector (migrations/0017: title and definition, the
# 'simple' configuration), so neither the match nor the rank recomputes it. Words are ORed
# (plainto_tsquery ANDs them): a student's question shares some words with a concept, rarely
# all; ts_rank puts concepts matching more of them first, then the course's order. A common
# word matches every concept, so the ranking reads only narrow rows (id, place, score), and
# only the best ``limit`` are read whole and joined for the answer.
_TEXT = f"""
WITH q AS (SELECT replace(plainto_tsquery('simple'::regconfig, %(q)s)::text, '&', '|')::tsquery AS query),
best AS (
    SELECT c.id, ts_rank(c.search_vector, q.query)::float8 AS score,
           m.position AS module_position, l.position AS lesson_position, c.position
      FROM concepts c
      CROSS JOIN q
      JOIN lessons l ON l.id = c.lesson_id AND l.tenant_id = %(tenant)s
      JOIN modules m ON m.id = l.module_id AND m.tenant_id = %(tenant)s
     WHERE c.course_id = %(course)s AND c.tenant_id = %(tenant)s AND c.search_vector @@ q.query
     ORDER BY score DESC, m.position, l.position, c.position
     LIMIT %(limit)s
)
SELECT {_HIT}, best.score
  FROM best
  JOIN concepts c ON c.id = best.id
  {_HIT_JOINS}
 ORDER BY best.score DESC, best.module_position, best.lesson_position, best.position
"""  # noqa: S608 (constants only)


def embedded_concepts(conn: psycopg.Connection, tenant_id: str, course_id: str) -> int:
    """How many of the course's concepts have an embedding, counted up to
    ``EXACT_SEARCH_MAX + 1`` (0: search falls back to full text)."""
    return conn.execute(_EMBEDDED, (course_id, tenant_id, EXACT_SEARCH_MAX + 1)).fetchone()[0]


def search_similar(
    conn: psycopg.Connection, tenant_id: str, course_id: str, vector: str, limit: int, *, embedded: int
) -> list[dict]:
    """The course's ``limit`` concepts nearest ``vector`` (pgvector's text form, ``[0.1,…]``)
    by cosine distance, best first, each with ``score`` = cosine similarity; exact up to
    :data:`EXACT_SEARCH_MAX` ``embedded`` concepts (:func:`embedded_concepts`), through the
    HNSW index past it. Run it inside a transaction: the index's settings last as long."""
    if embedded > EXACT_SEARCH_MAX:
        conn.execute(_INDEX_SEARCH, (str(max(40, 2 * limit)),))
    params = {"tenant": tenant_id, "course": course_id, "vector": vector, "limit": limit}
    return conn.cursor(row_factory=dict_row).execute(_SIMILAR, params).fetchall()


def search_text(conn: psycopg.Connection, tenant_id: str, course_id: str, q: str, limit: int) -> list[dict]:
    """PostgreSQL full-text search over the course's concept titles and definitions, best
    first, each with ``score`` = ts_rank. Run it inside a transaction: the plan setting lasts
    as long."""
    params = {"tenant": tenant_id, "course": course_id, "q": q, "limit": limit}
    # Planned for these values every time: the generic plan a prepared statement falls back to
    # after five runs cannot see how many concepts a course has, and ranked a 10 000-concept
    # course in 41 ms instead of 16 (measured).
    conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    return conn.cursor(row_factory=dict_row).execute(_TEXT, params).fetchall()
