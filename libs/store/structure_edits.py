"""The author's own writes to a course's structure: add, change, move or delete one module,
lesson, concept or exercise. Statements on the structure's tables, beside their owner
(:mod:`libs.store.structure`), which keeps what is marked here when a run comes:

- a field the author sets joins the row's ``edited``: a run leaves it be;
- an item the author adds is ``added_by_author``: a run that does not return it keeps it;
- an item the author deletes leaves its normalised text in ``structure_deletions``: a run that
  returns it again does not bring it back;
- a concept the author adds, or whose text the author changes, is queued to be embedded again.

Every function runs in its own transaction, with the course row locked first, so an edit and a
run (or two edits) happen one after the other, and takes the course's revision the client saw
(``expected``, from ``If-Match``): a stale one is :class:`Stale`, nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from libs.errors import Invalid, NotFound, Stale
from libs.jobs import queue
from libs.store import courses
from libs.store.structure import EDITED, PARENT_COLUMN, RUN_FIELDS
from libs.store.structure_match import KEY_TEXT, PARENT_KIND, normalised

_NAMES = {"modules": "module", "lessons": "lesson", "concepts": "concept", "exercises": "exercise"}
_OUT_OF_THE_WAY = 1_000_000
EMBED_KIND = "embed_concepts"


def etag(course_id: str, revision: int) -> str:
    """The course document's ETag at ``revision`` (services/courses/document.py renders it)."""
    return f'"{course_id}-{revision}"'


def hold_revision(conn: psycopg.Connection, tenant_id: str, course_id: str, expected: list[str] | None) -> None:
    """Lock the course and hold the client to the revision it saw (``If-Match``'s tags; ``*``
    matches any)."""
    courses.require(conn, tenant_id, course_id, lock=True)
    if expected is None:
        return
    current = etag(course_id, courses.current_revision(conn, tenant_id, course_id)).strip('"')
    if "*" not in expected and current not in [tag.strip('"') for tag in expected]:
        raise Stale("The course changed since that ETag: read it again, then retry the edit with If-Match.")


def expected_tags(if_match: list | None) -> list[str] | None:
    """The tags of a parsed ``If-Match`` header (Falcon's), or None without one."""
    return None if if_match is None else [str(tag) for tag in if_match]


def _columns(kind: str) -> str:
    parent = PARENT_COLUMN[kind]
    return ", ".join(["id", *([parent] if parent else []), "position", *RUN_FIELDS[kind], EDITED])


def _get(conn: psycopg.Connection, tenant_id: str, course_id: str, kind: str, item_id: str) -> dict:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_columns(kind)} FROM {kind} WHERE id = %s AND course_id = %s AND tenant_id = %s",  # noqa: S608
            (item_id, course_id, tenant_id),
        )
        .fetchone()
    )
    if row is None:
        raise NotFound(f"No {_NAMES[kind]} with this id in this course.")
    return row


def _values(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: Jsonb(value) if name == "web_references" else value
        for name, value in fields.items()
        if name in RUN_FIELDS[kind]
    }


def _siblings(conn: psycopg.Connection, kind: str, course_id: str, tenant_id: str, parent: str | None) -> list[str]:
    column = PARENT_COLUMN[kind]
    where = f"{column} = %s" if column else "TRUE"
    query = f"SELECT id FROM {kind} WHERE course_id = %s AND tenant_id = %s AND {where} ORDER BY position"  # noqa: S608
    args = (course_id, tenant_id, *([parent] if column else []))
    return [str(row[0]) for row in conn.execute(query, args)]


def _place(
    conn: psycopg.Connection, kind: str, course_id: str, tenant_id: str, parent: str | None, item: str, at: int | None
) -> None:
    """Number the item's siblings 0, 1, … with ``item`` at index ``at`` (its place kept when None,
    the end when past it)."""
    order = _siblings(conn, kind, course_id, tenant_id, parent)
    if at is not None:
        order = [sibling for sibling in order if sibling != item]
        order.insert(min(at, len(order)), item)
    conn.execute(
        f"UPDATE {kind} SET position = position + {_OUT_OF_THE_WAY} WHERE id = ANY(%s)",  # noqa: S608
        (order,),
    )
    with conn.cursor() as cur:
        cur.executemany(
            f"UPDATE {kind} SET position = %s WHERE id = %s",  # noqa: S608
            [(n, sibling) for n, sibling in enumerate(order)],
        )


def _embed_later(conn: psycopg.Connection, tenant_id: str, course_id: str, concept_id: str) -> None:
    """Queue the concept's embedding (the agent's worker makes it: services/agent/embedding.py),
    in the edit's transaction: the job exists exactly when the text it embeds does."""
    queue.enqueue(conn, tenant_id, EMBED_KIND, course_id=course_id, payload={"concept_ids": [concept_id]})


def _parent_of(kind: str, item: Mapping[str, Any]) -> str | None:
    column = PARENT_COLUMN[kind]
    return str(item[column]) if column else None


def _checked(kind: str, run: Any) -> Any:
    """A row the table's CHECK refuses (a slide range in reverse) is the caller's 422."""
    try:
        return run()
    except psycopg.errors.CheckViolation:
        if kind == "lessons":
            raise Invalid("slide_end: must not be before slide_start", field="slide_end") from None
        raise


def add(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    kind: str,
    parent_id: str | None,
    fields: Mapping[str, Any],
    *,
    expected: list[str] | None = None,
) -> tuple[dict, int]:
    """A new item the author added under ``parent_id`` (a module's lesson, a lesson's concept…;
    None for a module), at ``fields["position"]`` (the end when absent); the item and the
    course's new revision."""
    with conn.transaction():
        hold_revision(conn, tenant_id, course_id, expected)
        parent_kind = PARENT_KIND[kind]
        if parent_kind is not None:
            _get(conn, tenant_id, course_id, parent_kind, str(parent_id))  # 404 for another course's
        values = _values(kind, fields)
        column = PARENT_COLUMN[kind]
        names = ["tenant_id", "course_id", *([column] if column else []), "position", "added_by_author", *values]
        params = [tenant_id, course_id, *([parent_id] if column else []), _OUT_OF_THE_WAY * 2, True, *values.values()]
        statement = f"INSERT INTO {kind} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) RETURNING id"  # noqa: S608
        item_id = str(_checked(kind, lambda: conn.execute(statement, params).fetchone()[0]))
        _place(conn, kind, course_id, tenant_id, parent_id, item_id, fields.get("position", 1 << 30))
        if kind == "concepts":
            _embed_later(conn, tenant_id, course_id, item_id)
        return _get(conn, tenant_id, course_id, kind, item_id), courses.current_revision(conn, tenant_id, course_id)


def update(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    kind: str,
    item_id: str,
    fields: Mapping[str, Any],
    *,
    expected: list[str] | None = None,
) -> tuple[dict, int]:
    """Set the given fields (marked edited), and move the item to ``fields["position"]`` among
    its siblings when given; the item and the course's new revision."""
    with conn.transaction():
        hold_revision(conn, tenant_id, course_id, expected)
        item = _get(conn, tenant_id, course_id, kind, item_id)
        values = _values(kind, fields)
        if values:
            assignments = ", ".join(f"{name} = %s" for name in values)
            statement = (
                f"UPDATE {kind} SET {assignments}, edited = ARRAY(SELECT DISTINCT unnest(edited || %s::text[]))"  # noqa: S608
                " WHERE id = %s AND tenant_id = %s"
            )
            _checked(kind, lambda: conn.execute(statement, [*values.values(), list(values), item_id, tenant_id]))
            if kind == "concepts" and {"title", "definition"} & set(values):
                # its embedding was made from the old text: none until the job makes the new one
                conn.execute(
                    "UPDATE concepts SET embedding = NULL WHERE id = %s AND tenant_id = %s", (item_id, tenant_id)
                )
                _embed_later(conn, tenant_id, course_id, item_id)
        if "position" in fields:
            parent = item.get(PARENT_COLUMN[kind]) if PARENT_COLUMN[kind] else None
            _place(
                conn, kind, course_id, tenant_id, None if parent is None else str(parent), item_id, fields["position"]
            )
        return _get(conn, tenant_id, course_id, kind, item_id), courses.current_revision(conn, tenant_id, course_id)


def delete(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    kind: str,
    item_id: str,
    *,
    expected: list[str] | None = None,
) -> int:
    """Delete the item (and what hangs under it), and remember its text so a run does not bring
    it back; the course's new revision."""
    with conn.transaction():
        hold_revision(conn, tenant_id, course_id, expected)
        item = _get(conn, tenant_id, course_id, kind, item_id)
        conn.execute(
            f"DELETE FROM {kind} WHERE id = %s AND tenant_id = %s",  # noqa: S608
            (item_id, tenant_id),
        )
        conn.execute(
            "INSERT INTO structure_deletions (tenant_id, course_id, kind, key) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (course_id, kind, key) DO NOTHING",
            (tenant_id, course_id, kind, normalised(item[KEY_TEXT[kind]])),
        )
        _place(conn, kind, course_id, tenant_id, _parent_of(kind, item), item_id, None)
        return courses.current_revision(conn, tenant_id, course_id)
