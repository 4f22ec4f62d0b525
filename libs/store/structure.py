"""The one owner of a course's structure: modules → lessons → concepts and exercises.

The courses service reads it, the agent's ArchitectAgent replaces it; nothing else writes SQL
for these tables. Every query takes the tenant id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.store import courses

DIFFICULTIES = ("easy", "medium", "hard")
EXERCISE_DIFFICULTY = (1, 5)  # easiest, hardest: the exercises table's CHECK
# HH:MM:SS, as the lessons' and slide mapping's CHECK constraints (migrations 0002, 0003) say
TIMECODE_PATTERN = "[0-9]{2}:[0-5][0-9]:[0-5][0-9]"  # of a module; an exercise's difficulty is 1 to 5

_MODULES = """SELECT id, position, title, description, learning_goal, expected_knowledge, expected_skills, difficulty
                FROM modules WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_LESSON_COLUMNS = "id, module_id, position, title, video_start_timecode, video_end_timecode, slide_start, slide_end"
_LESSONS = f"""SELECT {_LESSON_COLUMNS}
                 FROM lessons WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON = f"""SELECT {_LESSON_COLUMNS}
                FROM lessons WHERE id = %(lesson)s AND course_id = %(course)s AND tenant_id = %(tenant)s"""  # noqa: S608
_CONCEPT_COLUMNS = "id, position, title, definition, examples, timecodes, slide_references, web_references"
_CONCEPTS = f"""SELECT lesson_id, {_CONCEPT_COLUMNS}
                  FROM concepts WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_CONCEPTS = f"""SELECT {_CONCEPT_COLUMNS}
                         FROM concepts WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s
                        ORDER BY position"""  # noqa: S608
_EXERCISE_COLUMNS = "id, position, description, reference_solution, grading_criteria, difficulty"
_EXERCISES = f"""SELECT lesson_id, {_EXERCISE_COLUMNS}
                   FROM exercises WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_EXERCISES = f"""SELECT {_EXERCISE_COLUMNS}
                          FROM exercises WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s
                         ORDER BY position"""  # noqa: S608


def _group(rows: list[dict], key: str) -> dict[object, list[dict]]:
    groups: dict[object, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.pop(key), []).append(row)
    return groups


def _nest(modules: list[dict], lessons: list[dict], **of_lesson: dict) -> list[dict]:
    """``modules`` with their ``lessons``, each lesson given its lists of ``of_lesson`` (name →
    lesson id → rows), all in the order the rows came."""
    for lesson in lessons:
        for name, groups in of_lesson.items():
            lesson[name] = groups.get(lesson["id"], [])
    lessons_by_module = _group(lessons, "module_id")
    for module in modules:
        module["lessons"] = lessons_by_module.get(module["id"], [])
    return modules


def read(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's modules with their lessons, concepts and exercises, in order: four
    queries whatever the size. Run it inside the caller's snapshot so the parts agree."""
    params = {"course": course_id, "tenant": tenant_id}
    cur = conn.cursor(row_factory=dict_row)
    modules = cur.execute(_MODULES, params).fetchall()
    lessons = cur.execute(_LESSONS, params).fetchall()
    concepts = _group(cur.execute(_CONCEPTS, params).fetchall(), "lesson_id")
    exercises = _group(cur.execute(_EXERCISES, params).fetchall(), "lesson_id")
    return _nest(modules, lessons, concepts=concepts, exercises=exercises)


def read_lesson(conn: psycopg.Connection, tenant_id: str, course_id: str, lesson_id: str) -> dict:
    """One lesson with its concepts and exercises; NotFound unless it is in this tenant's course."""
    params = {"tenant": tenant_id, "course": course_id, "lesson": lesson_id}
    cur = conn.cursor(row_factory=dict_row)
    lesson = cur.execute(_LESSON, params).fetchone()
    if lesson is None:
        raise NotFound("No lesson with this id in this course.")
    lesson["concepts"] = cur.execute(_LESSON_CONCEPTS, params).fetchall()
    lesson["exercises"] = cur.execute(_LESSON_EXERCISES, params).fetchall()
    return lesson


def course_brief(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    """The course's own fields that frame its structure (see :func:`libs.store.courses.brief`)."""
    return courses.brief(conn, tenant_id, course_id)


def replace(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    modules: Sequence[Mapping[str, Any]],
    *,
    course: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Make ``modules`` (nested as :func:`read` returns them, without ids and positions) the
    course's whole structure, in one transaction: readers see the old structure or the new,
    never a mix, and a failure leaves the old one. Returns the counts written.

    Concepts may carry an ``embedding`` (a list of floats, or None). ``course`` may carry the
    course-level description, learning goal, expected knowledge and skills a run produced
    (the title stays the one the client gave)."""
    rows: dict[str, list[tuple]] = {"modules": [], "lessons": [], "concepts": [], "exercises": []}
    for m, module in enumerate(modules):
        module_id = uuid.uuid4()
        rows["modules"].append(
            (
                module_id,
                tenant_id,
                course_id,
                m,
                module["title"],
                module.get("description"),
                module.get("learning_goal"),
                list(module.get("expected_knowledge", ())),
                list(module.get("expected_skills", ())),
                module.get("difficulty"),
            )
        )
        for n, lesson in enumerate(module.get("lessons", ())):
            lesson_id = uuid.uuid4()
            rows["lessons"].append(
                (
                    lesson_id,
                    tenant_id,
                    course_id,
                    module_id,
                    n,
                    lesson["title"],
                    lesson.get("video_start_timecode"),
                    lesson.get("video_end_timecode"),
                    lesson.get("slide_start"),
                    lesson.get("slide_end"),
                )
            )
            for c, concept in enumerate(lesson.get("concepts", ())):
                embedding = concept.get("embedding")
                rows["concepts"].append(
                    (
                        tenant_id,
                        course_id,
                        lesson_id,
                        c,
                        concept["title"],
                        concept["definition"],
                        list(concept.get("examples", ())),
                        list(concept.get("timecodes", ())),
                        list(concept.get("slide_references", ())),
                        json.dumps(list(concept.get("web_references", ()))),
                        None if embedding is None else "[" + ",".join(map(str, embedding)) + "]",
                    )
                )
            for e, exercise in enumerate(lesson.get("exercises", ())):
                rows["exercises"].append(
                    (
                        tenant_id,
                        course_id,
                        lesson_id,
                        e,
                        exercise["description"],
                        exercise.get("reference_solution"),
                        exercise.get("grading_criteria"),
                        exercise["difficulty"],
                    )
                )
    with conn.transaction():
        courses.require(conn, tenant_id, course_id, lock=True)
        if course:
            courses.set_structure_fields(conn, tenant_id, course_id, course)
        # lessons, concepts and exercises go with their modules (ON DELETE CASCADE)
        conn.execute("DELETE FROM modules WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO modules (id, tenant_id, course_id, position, title, description, learning_goal,"
                " expected_knowledge, expected_skills, difficulty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows["modules"],
            )
            cur.executemany(
                "INSERT INTO lessons (id, tenant_id, course_id, module_id, position, title, video_start_timecode,"
                " video_end_timecode, slide_start, slide_end) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows["lessons"],
            )
            cur.executemany(
                "INSERT INTO concepts (tenant_id, course_id, lesson_id, position, title, definition, examples,"
                " timecodes, slide_references, web_references, embedding)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::vector)",
                rows["concepts"],
            )
            cur.executemany(
                "INSERT INTO exercises (tenant_id, course_id, lesson_id, position, description, reference_solution,"
                " grading_criteria, difficulty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows["exercises"],
            )
    return {name: len(batch) for name, batch in rows.items()}


# --- the check scope: an exercise to grade, and concept search --------------------------------

_EXERCISE = """SELECT e.id, e.lesson_id, e.description, e.reference_solution, e.grading_criteria, e.difficulty
                 FROM exercises e
                WHERE e.id = %(exercise)s AND e.course_id = %(course)s AND e.tenant_id = %(tenant)s"""


def has_exercise(conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str) -> bool:
    """Whether the tenant's course has this exercise now."""
    params = (exercise_id, course_id, tenant_id)
    return (
        conn.execute("SELECT 1 FROM exercises WHERE id = %s AND course_id = %s AND tenant_id = %s", params).fetchone()
        is not None
    )


def exercise(conn: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str) -> dict:
    """One exercise with what grading needs (description, criteria, reference solution);
    :class:`NotFound` unless it is in this tenant's course."""
    params = {"tenant": tenant_id, "course": course_id, "exercise": exercise_id}
    row = conn.cursor(row_factory=dict_row).execute(_EXERCISE, params).fetchone()
    if row is None:
        raise NotFound("No exercise with this id in this course.")
    return row


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
# The expression of migrations/0011's GIN index, word for word, so the index serves it. Words
# are ORed (plainto_tsquery ANDs them): a student's question shares some words with a concept,
# rarely all; ts_rank puts concepts matching more of them first.
FTS_DOCUMENT = "to_tsvector('simple'::regconfig, c.title || ' ' || c.definition)"
_TEXT = f"""
SELECT {_HIT}, ts_rank({FTS_DOCUMENT}, q.query)::float8 AS score
  FROM concepts c
  CROSS JOIN (SELECT replace(plainto_tsquery('simple'::regconfig, %(q)s)::text, '&', '|')::tsquery AS query) q
  {_HIT_JOINS}
 WHERE c.course_id = %(course)s AND c.tenant_id = %(tenant)s AND {FTS_DOCUMENT} @@ q.query
 ORDER BY score DESC, m.position, l.position, c.position
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


def search_text(conn: psycopg.Connection, tenant_id: str, course_id: str, q: str, limit: int) -> list[dict]:
    """PostgreSQL full-text search over the course's concept titles and definitions, best
    first, each with ``score`` = ts_rank."""
    params = {"tenant": tenant_id, "course": course_id, "q": q, "limit": limit}
    return conn.cursor(row_factory=dict_row).execute(_TEXT, params).fetchall()


# --- a student's progress: the outline, and the concepts of the lessons to review ------------

_OUTLINE_MODULES = """SELECT id, title FROM modules
                       WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_OUTLINE_LESSONS = """SELECT id, module_id, title, video_start_timecode, slide_start FROM lessons
                       WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_OUTLINE_EXERCISES = """SELECT lesson_id, id FROM exercises
                         WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""
_CONCEPTS_OF_LESSONS = """SELECT lesson_id, id, title, timecodes, slide_references FROM concepts
                           WHERE lesson_id = ANY(%(lessons)s) AND tenant_id = %(tenant)s ORDER BY position"""


def outline(conn: psycopg.Connection, tenant_id: str, course_id: str) -> list[dict]:
    """The course's modules → lessons (title, where the lesson starts) → exercise ids, in order:
    what progress needs, without the concepts' and exercises' texts that :func:`read` carries."""
    params = {"course": course_id, "tenant": tenant_id}
    cur = conn.cursor(row_factory=dict_row)
    modules = cur.execute(_OUTLINE_MODULES, params).fetchall()
    lessons = cur.execute(_OUTLINE_LESSONS, params).fetchall()
    exercises = _group(cur.execute(_OUTLINE_EXERCISES, params).fetchall(), "lesson_id")
    ids = {lesson: [row["id"] for row in rows] for lesson, rows in exercises.items()}
    return _nest(modules, lessons, exercises=ids)


def concepts_of_lessons(conn: psycopg.Connection, tenant_id: str, lesson_ids: Sequence[object]) -> dict:
    """Lesson id → its concepts (id, title, timecodes, slide references), in order."""
    if not lesson_ids:
        return {}
    params = {"lessons": list(lesson_ids), "tenant": tenant_id}
    return _group(conn.cursor(row_factory=dict_row).execute(_CONCEPTS_OF_LESSONS, params).fetchall(), "lesson_id")
