"""Concept search over a course's structure: by embedding (pgvector, exact or through the HNSW
index) or by PostgreSQL full text. The concepts table's owner is :mod:`libs.store.structure`;
these are its read-only queries for search, kept apart because they are a concern of their own
(index choice, planner settings, ranking). Every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Collection

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
# A word that many of a course's concepts contain says next to nothing about which concept a
# question means (its inverse document frequency is near zero), and it is what makes full text
# slow: "concept" in a 10 000-concept course matched every row, and ranking them all cost
# ~12 ms of PostgreSQL CPU a query. Such a word is common in a course when at least
# COMMON_WORD_MIN_CONCEPTS and more than one in COMMON_WORD_SHARE of its concepts contain it
# (so a small course has none, and its ranking is what it always was).
COMMON_WORD_MIN_CONCEPTS = 100
COMMON_WORD_SHARE = 10
_COMMON_WORDS = """
SELECT word FROM ts_stat(format('SELECT search_vector FROM concepts WHERE course_id = %%L AND tenant_id = %%L',
                                %(course)s::text, %(tenant)s::text))
 WHERE ndoc >= %(least)s
   AND ndoc * %(share)s > (SELECT count(*) FROM concepts
                            WHERE course_id = %(course)s::uuid AND tenant_id = %(tenant)s::uuid)
 ORDER BY word
"""
# The question's words as the stored vectors hold them ('simple': lower-cased, not stemmed).
_WORDS = "SELECT tsvector_to_array(to_tsvector('simple'::regconfig, %s))"
# Full text over each concept's stored vector (migrations/0017: title and definition, the
# 'simple' configuration), so neither the match nor the rank recomputes it. Words are ORed
# (plainto_tsquery ANDs them): a student's question shares some words with a concept, rarely
# all; ts_rank puts concepts matching more of them first, then the course's order. Only the
# question's distinctive words are ranked (few rows, found through concepts_search_idx); the
# ranking reads narrow rows (id, place, score), and only the best ``limit`` are read whole.
_OR_QUERY = "replace(plainto_tsquery('simple'::regconfig, %(words)s)::text, '&', '|')::tsquery"
_RANKED = f"""
WITH q AS (SELECT {_OR_QUERY} AS query),
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
# Concepts sharing only common words with the question follow in the course's order, score 0.
# Walked module by module, lesson by lesson through the position keys: a common word is in one
# concept of ten or more, so the first ``limit`` are found a few lessons in, not after all.
_IN_COURSE_ORDER = f"""
SELECT {_HIT}, 0.0::float8 AS score
  FROM modules m
 CROSS JOIN LATERAL (SELECT * FROM lessons l
                      WHERE l.module_id = m.id AND l.tenant_id = %(tenant)s ORDER BY l.position) l
 CROSS JOIN LATERAL (SELECT * FROM concepts c
                      WHERE c.lesson_id = l.id AND c.tenant_id = %(tenant)s
                        AND c.search_vector @@ {_OR_QUERY} AND c.id <> ALL(%(found)s::uuid[])
                      ORDER BY c.position) c
 WHERE m.course_id = %(course)s AND m.tenant_id = %(tenant)s
 ORDER BY m.position, l.position, c.position
 LIMIT %(limit)s
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


def common_words(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[str]:
    """The course's common words (see COMMON_WORD_SHARE), sorted: one pass over its concepts'
    vectors (~30 ms at 10 000 concepts), so a caller keeps them for the course's revision."""
    params = {"tenant": tenant_id, "course": course_id, "least": COMMON_WORD_MIN_CONCEPTS, "share": COMMON_WORD_SHARE}
    return [row[0] for row in conn.execute(_COMMON_WORDS, params)]


def search_text(
    conn: psycopg.Connection, tenant_id: str, course_id: str, q: str, limit: int, *, common: Collection[str]
) -> list[dict]:
    """PostgreSQL full-text search over the course's concept titles and definitions: the
    concepts with the question's distinctive words first, best first, ``score`` = ts_rank over
    those words; then, up to ``limit``, the concepts with only its ``common`` words
    (:func:`common_words`) in the course's order, score 0. Run it inside a transaction: the
    plan setting lasts as long."""
    words = conn.execute(_WORDS, (q,)).fetchone()[0]
    distinctive = [word for word in words if word not in common]
    shared = [word for word in words if word in common]
    params = {"tenant": tenant_id, "course": course_id, "limit": limit}
    # Planned for these values every time: the generic plan a prepared statement falls back to
    # after five runs cannot see how many concepts a course has, and ranked a 10 000-concept
    # course in 41 ms instead of 16 (measured).
    conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    cursor = conn.cursor(row_factory=dict_row)
    rows = cursor.execute(_RANKED, {**params, "words": " ".join(distinctive)}).fetchall() if distinctive else []
    if shared and len(rows) < limit:
        found = [row["id"] for row in rows]
        fill = {**params, "words": " ".join(shared), "limit": limit - len(rows), "found": found}
        rows += cursor.execute(_IN_COURSE_ORDER, fill).fetchall()
    return rows
