"""The one owner of a course's structure: modules → lessons → concepts and exercises.

The courses service reads it, the agent's ArchitectAgent replaces it; nothing else writes SQL
for these tables. Every query takes the tenant id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.store import courses, structure_match

DIFFICULTIES = ("easy", "medium", "hard")
EXERCISE_DIFFICULTY = (1, 5)  # easiest, hardest: the exercises table's CHECK
# The lengths of the structure's texts and lists: what a run's answer may hold
# (services/agent/architect/schema.py) and what an author may write (services/courses/schemas.py).
TITLE_MAX = 300
DESCRIPTION_MAX = 4000
GOAL_MAX = 2000
LIST_ITEM_MAX = 300
LIST_MAX = 20
DEFINITION_MAX = 2000
EXAMPLE_MAX = 1000
EXAMPLES_MAX = 10
TIMECODES_MAX = 20
SLIDE_REFERENCES_MAX = 50
WEB_REFERENCES_MAX = 10
URL_MAX = 2000
SOLUTION_MAX = 8000
# HH:MM:SS, as the lessons' and slide mapping's CHECK constraints (migrations 0002, 0003) say
TIMECODE_PATTERN = "[0-9]{2}:[0-5][0-9]:[0-5][0-9]"  # of a module; an exercise's difficulty is 1 to 5

# Whether the author touched an item: edited one of its fields, or added it by hand.
EDITED = "(cardinality(edited) > 0 OR added_by_author) AS edited"
_MODULES = f"""SELECT id, position, title, description, learning_goal, expected_knowledge, expected_skills, difficulty,
                      {EDITED}
                 FROM modules WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_COLUMNS = (
    f"id, module_id, position, title, video_start_timecode, video_end_timecode, slide_start, slide_end, {EDITED}"
)
_LESSONS = f"""SELECT {_LESSON_COLUMNS}
                 FROM lessons WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON = f"""SELECT {_LESSON_COLUMNS}
                FROM lessons WHERE id = %(lesson)s AND course_id = %(course)s AND tenant_id = %(tenant)s"""  # noqa: S608
_CONCEPT_COLUMNS = f"id, position, title, definition, examples, timecodes, slide_references, web_references, {EDITED}"
_CONCEPTS = f"""SELECT lesson_id, {_CONCEPT_COLUMNS}
                  FROM concepts WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_CONCEPTS = f"""SELECT {_CONCEPT_COLUMNS}
                         FROM concepts WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s
                        ORDER BY position"""  # noqa: S608
_EXERCISE_COLUMNS = f"id, position, description, reference_solution, grading_criteria, difficulty, {EDITED}"
_EXERCISES = f"""SELECT lesson_id, {_EXERCISE_COLUMNS}
                   FROM exercises WHERE course_id = %(course)s AND tenant_id = %(tenant)s ORDER BY position"""  # noqa: S608
_LESSON_EXERCISES = f"""SELECT {_EXERCISE_COLUMNS}
                          FROM exercises WHERE lesson_id = %(lesson)s AND tenant_id = %(tenant)s
                         ORDER BY position"""  # noqa: S608


def group_rows(rows: list[dict], key: str) -> dict[object, list[dict]]:
    groups: dict[object, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.pop(key), []).append(row)
    return groups


def nest(modules: list[dict], lessons: list[dict], **of_lesson: dict) -> list[dict]:
    """``modules`` with their ``lessons``, each lesson given its lists of ``of_lesson`` (name →
    lesson id → rows), all in the order the rows came."""
    for lesson in lessons:
        for name, groups in of_lesson.items():
            lesson[name] = groups.get(lesson["id"], [])
    lessons_by_module = group_rows(lessons, "module_id")
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
    concepts = group_rows(cur.execute(_CONCEPTS, params).fetchall(), "lesson_id")
    exercises = group_rows(cur.execute(_EXERCISES, params).fetchall(), "lesson_id")
    return nest(modules, lessons, concepts=concepts, exercises=exercises)


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


# Every kept row's position moves this far out of the way first, so that giving rows their new
# positions never meets the UNIQUE (parent, position) of a row not yet moved.
_OUT_OF_THE_WAY = 1_000_000
_SHIFT = {
    kind: f"UPDATE {kind} SET position = position + {_OUT_OF_THE_WAY} WHERE course_id = %s AND tenant_id = %s"  # noqa: S608
    for kind in ("modules", "lessons", "concepts", "exercises")
}
# The fields a run writes, per kind. A field the author edited (in the row's ``edited``) keeps
# the author's value: the run's goes to the fields the author left alone.
RUN_FIELDS = {
    "modules": ("title", "description", "learning_goal", "expected_knowledge", "expected_skills", "difficulty"),
    "lessons": ("title", "video_start_timecode", "video_end_timecode", "slide_start", "slide_end"),
    "concepts": ("title", "definition", "examples", "timecodes", "slide_references", "web_references"),
    "exercises": ("description", "reference_solution", "grading_criteria", "difficulty"),
}
PARENT_COLUMN = {"modules": None, "lessons": "module_id", "concepts": "lesson_id", "exercises": "lesson_id"}
_CASTS = {"web_references": "::jsonb", "embedding": "::vector"}


def _upsert(kind: str, *, keep_edits: bool = True) -> str:
    parent = PARENT_COLUMN[kind]
    columns = ["id", "tenant_id", "course_id", *([parent] if parent else []), "position", *RUN_FIELDS[kind]]
    values = ["%(id)s", "%(tenant)s", "%(course)s", *(["%(parent)s"] if parent else []), "%(position)s"]
    values += [f"%({name})s{_CASTS.get(name, '')}" for name in RUN_FIELDS[kind]]
    columns.append("run_text")
    values.append("%(run_text)s")
    updates = [f"{parent} = EXCLUDED.{parent}"] if parent else []
    if keep_edits:  # a run: the author's fields stay the author's
        updates += ["position = EXCLUDED.position", "run_text = EXCLUDED.run_text"]
        updates += [
            f"{name} = CASE WHEN '{name}' = ANY({kind}.edited) THEN {kind}.{name} ELSE EXCLUDED.{name} END"
            for name in RUN_FIELDS[kind]
        ]
    else:  # a restore: every field as the version has it; the name a run gave stays
        updates += ["position = EXCLUDED.position", f"run_text = coalesce({kind}.run_text, EXCLUDED.run_text)"]
        updates += [f"{name} = EXCLUDED.{name}" for name in RUN_FIELDS[kind]]
    if kind == "concepts":
        columns.append("embedding")
        values.append("%(embedding)s::vector")
        # an embedding is kept while the text it was made from is unchanged (or the author's),
        # replaced by the run's when it brought one, dropped otherwise
        updates.append(
            "embedding = CASE WHEN 'title' = ANY(concepts.edited) OR 'definition' = ANY(concepts.edited)"
            " THEN concepts.embedding WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding"
            " WHEN concepts.title = EXCLUDED.title AND concepts.definition = EXCLUDED.definition"
            " THEN concepts.embedding END"
        )
    return (
        f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({', '.join(values)})"  # noqa: S608 (constants only)
        f" ON CONFLICT (id) DO UPDATE SET {', '.join(updates)} WHERE {kind}.tenant_id = EXCLUDED.tenant_id"
    )


_WRITE = {kind: _upsert(kind) for kind in RUN_FIELDS}
_RESTORE = {kind: _upsert(kind, keep_edits=False) for kind in RUN_FIELDS}
_DELETE = {
    kind: f"DELETE FROM {kind} WHERE id = ANY(%s) AND course_id = %s AND tenant_id = %s"  # noqa: S608
    for kind in ("exercises", "concepts", "lessons", "modules")
}


def _rows(modules: Sequence[Mapping[str, Any]], ids: Mapping[str, list[str]], tenant_id: str, course_id: str) -> dict:
    """The parameters of each kind's rows, in the order :func:`structure_match.assign` numbered
    them, each with its id, its parent's and its position."""
    rows: dict[str, list[dict]] = {"modules": [], "lessons": [], "concepts": [], "exercises": []}
    base = {"tenant": tenant_id, "course": course_id}
    text = structure_match.normalised
    for m, module in enumerate(modules):
        module_id = ids["modules"][len(rows["modules"])]
        rows["modules"].append(
            {
                **base,
                "id": module_id,
                "position": m,
                "run_text": text(module["title"]),
                "title": module["title"],
                "description": module.get("description"),
                "learning_goal": module.get("learning_goal"),
                "expected_knowledge": list(module.get("expected_knowledge", ())),
                "expected_skills": list(module.get("expected_skills", ())),
                "difficulty": module.get("difficulty"),
            }
        )
        for n, lesson in enumerate(module.get("lessons", ())):
            lesson_id = ids["lessons"][len(rows["lessons"])]
            rows["lessons"].append(
                {
                    **base,
                    "id": lesson_id,
                    "parent": module_id,
                    "position": n,
                    "run_text": text(lesson["title"]),
                    "title": lesson["title"],
                    **{k: lesson.get(k) for k in _LESSON_ANCHORS},
                }
            )
            for c, concept in enumerate(lesson.get("concepts", ())):
                embedding = concept.get("embedding")
                rows["concepts"].append(
                    {
                        **base,
                        "id": ids["concepts"][len(rows["concepts"])],
                        "parent": lesson_id,
                        "position": c,
                        "run_text": text(concept["title"]),
                        "title": concept["title"],
                        "definition": concept["definition"],
                        "examples": list(concept.get("examples", ())),
                        "timecodes": list(concept.get("timecodes", ())),
                        "slide_references": list(concept.get("slide_references", ())),
                        "web_references": json.dumps(list(concept.get("web_references", ()))),
                        "embedding": None if embedding is None else "[" + ",".join(map(str, embedding)) + "]",
                    }
                )
            for e, exercise in enumerate(lesson.get("exercises", ())):
                rows["exercises"].append(
                    {
                        **base,
                        "id": ids["exercises"][len(rows["exercises"])],
                        "parent": lesson_id,
                        "position": e,
                        "run_text": text(exercise["description"]),
                        "description": exercise["description"],
                        "reference_solution": exercise.get("reference_solution"),
                        "grading_criteria": exercise.get("grading_criteria"),
                        "difficulty": exercise["difficulty"],
                    }
                )
    return rows


_LESSON_ANCHORS = ("video_start_timecode", "video_end_timecode", "slide_start", "slide_end")


def replace(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    modules: Sequence[Mapping[str, Any]],
    *,
    course: Mapping[str, Any] | None = None,
    discard_edits: bool = False,
) -> dict[str, int]:
    """Make ``modules`` (nested as :func:`read` returns them, without ids and positions) the
    course's structure, in one transaction: readers see the old structure or the new, never a
    mix, and a failure leaves the old one. Returns the counts the run wrote.

    Items that match a current item (:mod:`libs.store.structure_match`: same text, same
    anchors, or similar text under the same parent) keep its id and are updated in place; the
    others are inserted with new ids; current items nothing matched are deleted. So a run that
    returns the same course leaves every id as it was, and submissions keep their exercise.

    The author's work stands: a field the author edited keeps the author's value, an item the
    author added or edited stays even when the run does not return it (after the run's items
    of its parent), and an item the author deleted is not brought back. ``discard_edits``
    forgets all three first, so the run's answer is the whole structure.

    Concepts may carry an ``embedding`` (a list of floats, or None; a kept concept whose text is
    unchanged keeps its own). ``course`` may carry the course-level description, learning goal,
    expected knowledge and skills a run produced (the title stays the one the client gave; a
    field the client set stays the client's)."""
    with conn.transaction():
        courses.require(conn, tenant_id, course_id, lock=True)
        if discard_edits:
            _forget_edits(conn, tenant_id, course_id)
        modules = _without_deleted(modules, deleted_keys(conn, tenant_id, course_id))
        current = _with_run_texts(conn, tenant_id, course_id, read(conn, tenant_id, course_id))
        assignment = structure_match.assign(current, modules)
        rows = _rows(modules, assignment.ids, tenant_id, course_id)
        authors = _touched(current)  # kind → {id: parent id} of what the author touched
        if course:
            courses.set_structure_fields(conn, tenant_id, course_id, course)
        with conn.cursor() as cur:
            for shift in _SHIFT.values():
                cur.execute(shift, (course_id, tenant_id))
            for kind in ("modules", "lessons", "concepts", "exercises"):
                if rows[kind]:
                    cur.executemany(_WRITE[kind], rows[kind])
            for kind, positions in _after_the_runs_items(assignment, authors, rows).items():
                cur.executemany(f"UPDATE {kind} SET position = %s WHERE id = %s", positions)  # noqa: S608
            # children a removed parent had are moved or removed by now; what is left goes
            for kind, statement in _DELETE.items():
                removed = assignment.removed[kind] - set(authors[kind])
                if removed:
                    cur.execute(statement, (list(removed), course_id, tenant_id))
    return {kind: len(batch) for kind, batch in rows.items()}


def restore(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    modules: Sequence[Mapping[str, Any]],
    *,
    course: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Make ``modules`` (as :func:`read` returns them, ids included: a version's document) the
    course's structure, each item with the id it has there: kept items are set back, deleted
    ones come back with their ids, newer ones go. ``course`` sets the course's own fields back
    (the title stays). One transaction; returns the counts written."""
    ids: dict[str, list[str]] = {kind: [] for kind in RUN_FIELDS}
    for module in modules:
        ids["modules"].append(str(module["id"]))
        for lesson in module.get("lessons", ()):
            ids["lessons"].append(str(lesson["id"]))
            for kind in ("concepts", "exercises"):
                ids[kind] += [str(item["id"]) for item in lesson.get(kind, ())]
    with conn.transaction():
        courses.require(conn, tenant_id, course_id, lock=True)
        rows = _rows(modules, ids, tenant_id, course_id)
        if course:
            courses.set_structure_fields(conn, tenant_id, course_id, course, restoring=True)
        with conn.cursor() as cur:
            for shift in _SHIFT.values():
                cur.execute(shift, (course_id, tenant_id))
            for kind in ("modules", "lessons", "concepts", "exercises"):
                if rows[kind]:
                    cur.executemany(_RESTORE[kind], rows[kind])
            for kind, statement in _DELETE_OTHERS.items():
                cur.execute(statement, (ids[kind], course_id, tenant_id))
    return {kind: len(batch) for kind, batch in rows.items()}


_DELETE_OTHERS = {
    kind: f"DELETE FROM {kind} WHERE NOT (id = ANY(%s::uuid[])) AND course_id = %s AND tenant_id = %s"  # noqa: S608
    for kind in ("exercises", "concepts", "lessons", "modules")
}


def _with_run_texts(conn: psycopg.Connection, tenant_id: str, course_id: str, current: list[dict]) -> list[dict]:
    """``current`` with each item's ``run_text``: what the last run called it, which the next
    run's answer is matched by, whatever the author renamed it to since."""
    texts: dict[str, str] = {}
    for kind in RUN_FIELDS:
        query = f"SELECT id, run_text FROM {kind} WHERE course_id = %s AND tenant_id = %s AND run_text IS NOT NULL"  # noqa: S608
        texts.update((str(item_id), text) for item_id, text in conn.execute(query, (course_id, tenant_id)))
    for module in current:
        for item in [
            module,
            *module["lessons"],
            *(i for lesson in module["lessons"] for k in ("concepts", "exercises") for i in lesson[k]),
        ]:
            if str(item["id"]) in texts:
                item["run_text"] = texts[str(item["id"])]
    return current


def _touched(current: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """Per kind, the items the author added or edited, and every parent of one (a lesson the
    author added keeps its module): id → its parent's id."""
    touched: dict[str, dict[str, str | None]] = {kind: {} for kind in ("modules", "lessons", "concepts", "exercises")}
    for module in current:
        for lesson in module["lessons"]:
            for kind in ("concepts", "exercises"):
                for item in lesson[kind]:
                    if item["edited"]:
                        touched[kind][str(item["id"])] = str(lesson["id"])
            if lesson["edited"] or any(
                str(i["id"]) in touched[k] for k in ("concepts", "exercises") for i in lesson[k]
            ):
                touched["lessons"][str(lesson["id"])] = str(module["id"])
        if module["edited"] or any(str(lesson["id"]) in touched["lessons"] for lesson in module["lessons"]):
            touched["modules"][str(module["id"])] = None
    return touched


def _after_the_runs_items(
    assignment: structure_match.Assignment, authors: Mapping[str, Mapping[str, str | None]], rows: Mapping[str, list]
) -> dict[str, list[tuple[int, str]]]:
    """Positions for the author's items the run did not return: after the run's items of the
    same parent, in their former order."""
    taken: dict[tuple[str, str | None], int] = {}
    for kind, batch in rows.items():
        for row in batch:
            key = (kind, row.get("parent"))
            taken[key] = taken.get(key, 0) + 1
    positions: dict[str, list[tuple[int, str]]] = {}
    for kind, items in authors.items():
        for item_id, parent in items.items():
            if item_id in assignment.kept[kind]:
                continue  # the run returned it: it has its place
            key = (kind, parent)
            positions.setdefault(kind, []).append((taken.get(key, 0), item_id))
            taken[key] = taken.get(key, 0) + 1
    return positions


def deleted_keys(conn: psycopg.Connection, tenant_id: str, course_id: str) -> set[tuple[str, str]]:
    """What the author deleted from the course: (kind, normalised text) pairs."""
    rows = conn.execute(
        "SELECT kind, key FROM structure_deletions WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id)
    )
    return {(kind, key) for kind, key in rows}


def _without_deleted(modules: Sequence[Mapping[str, Any]], deleted: set[tuple[str, str]]) -> list[Mapping[str, Any]]:
    """``modules`` less every item the author deleted (by kind and normalised text), with what
    hangs under it."""
    if not deleted:
        return list(modules)

    def gone(kind: str, item: Mapping[str, Any]) -> bool:
        return (kind, structure_match.normalised(item.get(structure_match.KEY_TEXT[kind]))) in deleted

    kept = []
    for module in modules:
        if gone("modules", module):
            continue
        lessons = []
        for lesson in module.get("lessons", ()):
            if gone("lessons", lesson):
                continue
            lessons.append(
                {
                    **lesson,
                    "concepts": [c for c in lesson.get("concepts", ()) if not gone("concepts", c)],
                    "exercises": [e for e in lesson.get("exercises", ()) if not gone("exercises", e)],
                }
            )
        kept.append({**module, "lessons": lessons})
    return kept


def _forget_edits(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    """The author's marks, gone: every field is the run's again, hand-added items are like any
    other, deleted ones may come back."""
    for kind in ("modules", "lessons", "concepts", "exercises"):
        conn.execute(
            f"UPDATE {kind} SET edited = '{{}}', added_by_author = false"  # noqa: S608 (constants only)
            " WHERE course_id = %s AND tenant_id = %s AND (cardinality(edited) > 0 OR added_by_author)",
            (course_id, tenant_id),
        )
    conn.execute("DELETE FROM structure_deletions WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id))
    conn.execute("UPDATE courses SET edited = '{}' WHERE id = %s AND tenant_id = %s", (course_id, tenant_id))


# --- one exercise, for grading ---------------------------------------------------------------

_EXERCISE = """SELECT e.id, e.lesson_id, e.description, e.reference_solution, e.grading_criteria, e.difficulty
                 FROM exercises e
                WHERE e.id = %(exercise)s AND e.course_id = %(course)s AND e.tenant_id = %(tenant)s"""


def concept_texts(conn: psycopg.Connection, tenant_id: str, concept_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(id, title, definition) of each of the tenant's concepts among ``concept_ids``."""
    rows = conn.execute(
        "SELECT id, title, definition FROM concepts WHERE id = ANY(%s::uuid[]) AND tenant_id = %s",
        (list(concept_ids), tenant_id),
    )
    return [(str(concept_id), title, definition) for concept_id, title, definition in rows]


def set_embedding(
    conn: psycopg.Connection, tenant_id: str, concept_id: str, title: str, definition: str, vector: Sequence[float]
) -> bool:
    """Store the embedding made of ``title`` and ``definition``, unless the concept's text has
    changed since (a newer edit queued its own); whether it was stored."""
    return (
        conn.execute(
            "UPDATE concepts SET embedding = %s::vector"
            " WHERE id = %s AND tenant_id = %s AND title = %s AND definition = %s",
            ("[" + ",".join(map(str, vector)) + "]", concept_id, tenant_id, title, definition),
        ).rowcount
        == 1
    )


def has_item(conn: psycopg.Connection, tenant_id: str, course_id: str, kind: str, item_id: str) -> bool:
    """Whether the tenant's course has this module, lesson, concept or exercise (``kind``)."""
    if kind not in RUN_FIELDS:
        raise ValueError(f"unknown kind {kind!r}")
    query = f"SELECT 1 FROM {kind} WHERE id = %s AND course_id = %s AND tenant_id = %s"  # noqa: S608
    return conn.execute(query, (item_id, course_id, tenant_id)).fetchone() is not None


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
