"""The one owner of ``courses``: every statement on the table, whoever needs it (the courses
service's CRUD, the structure and its versions and the slide mapping hanging under a course).
Every query takes the tenant id: another tenant's course does not exist. It knows nothing of
what hangs under a course: rows go with it by foreign key, and removing a course with its
stored files is composed one layer up (services/courses/removal.py)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import NotFound
from libs.http.pagination import PageRequest, page_of

# What a client may set; services/courses/schemas.py declares their limits
EDITABLE = ("title", "description", "learning_goal")

_RETURNING = (
    " RETURNING id, title, description, learning_goal, expected_knowledge, expected_skills, revision,"
    " created_at, updated_at"
)
_SELECT = (
    "SELECT id, title, description, learning_goal, expected_knowledge, expected_skills, revision,"
    " created_at, updated_at FROM courses"
)
# The fields the client gives are the client's: a structure run leaves them be (``edited``).
_INSERT_COLUMNS = "tenant_id, title, description, learning_goal, edited"
_INSERT = f"INSERT INTO courses ({_INSERT_COLUMNS}) VALUES (%s, %s, %s, %s, %s){_RETURNING}"  # noqa: S608
_GET = _SELECT + " WHERE id = %s AND tenant_id = %s"
# One static statement for any subset of fields: a flag per field says whether to set it.
_UPDATE = (
    "UPDATE courses SET"
    " title = CASE WHEN %(set_title)s THEN %(title)s ELSE title END,"
    " description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,"
    " learning_goal = CASE WHEN %(set_learning_goal)s THEN %(learning_goal)s ELSE learning_goal END,"
    " edited = ARRAY(SELECT DISTINCT unnest(edited || %(edited)s::text[])),"
    " revision = revision + 1, updated_at = now()"
    " WHERE id = %(id)s AND tenant_id = %(tenant)s" + _RETURNING
)
_FIRST_PAGE = _SELECT + " WHERE tenant_id = %s ORDER BY created_at DESC, id DESC LIMIT %s"
_NEXT_PAGE = (
    _SELECT + " WHERE tenant_id = %s AND (created_at, id) < (%s, %s) ORDER BY created_at DESC, id DESC LIMIT %s"
)


def create(conn: psycopg.Connection, tenant_id: str, fields: dict[str, Any]) -> dict:
    """A new course of the tenant from ``fields`` (title, optional description and goal)."""
    given = [name for name in EDITABLE if fields.get(name) is not None]
    params = (tenant_id, fields["title"], fields.get("description"), fields.get("learning_goal"), given)
    return conn.cursor(row_factory=dict_row).execute(_INSERT, params).fetchone()


def get(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    """The course's own fields; :class:`NotFound` for another tenant's or an unknown id."""
    row = conn.cursor(row_factory=dict_row).execute(_GET, (course_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No course with this id.")
    return row


def update(conn: psycopg.Connection, tenant_id: str, course_id: str, fields: dict[str, Any]) -> dict:
    """Set the given editable fields (the others keep their values); the course as it is now."""
    params: dict[str, Any] = {"id": course_id, "tenant": tenant_id, "edited": [n for n in EDITABLE if n in fields]}
    for name in EDITABLE:
        params[f"set_{name}"] = name in fields
        params[name] = fields.get(name)
    row = conn.cursor(row_factory=dict_row).execute(_UPDATE, params).fetchone()
    if row is None:
        raise NotFound("No course with this id.")
    return row


def delete(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    """Delete the course's row; every row under it goes with it (ON DELETE CASCADE). Its stored
    files are the caller's to schedule first, in the same transaction (see
    :func:`libs.store.materials.schedule_course_deletion`)."""
    if conn.execute("DELETE FROM courses WHERE id = %s AND tenant_id = %s", (course_id, tenant_id)).rowcount == 0:
        raise NotFound("No course with this id.")


def page(conn: psycopg.Connection, tenant_id: str, request: PageRequest) -> dict:
    """Newest first, by keyset (see :mod:`libs.http.pagination`)."""
    cur = conn.cursor(row_factory=dict_row)
    if request.after:
        created_at, after_id = request.after
        rows = cur.execute(_NEXT_PAGE, (tenant_id, created_at, after_id, request.fetch)).fetchall()
    else:
        rows = cur.execute(_FIRST_PAGE, (tenant_id, request.fetch)).fetchall()
    total = conn.execute("SELECT count(*) FROM courses WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    return page_of(rows, request, total)


_EXISTS = "SELECT 1 FROM courses WHERE id = %s AND tenant_id = %s"
# a writer under a course locks its row, so that two replaces (a mapping, a structure, a
# version number) of one course run one after the other
_EXISTS_FOR_UPDATE = _EXISTS + " FOR UPDATE"


def require(conn: psycopg.Connection, tenant_id: str, course_id: str, *, lock: bool = False) -> None:
    """:class:`NotFound` unless the tenant has this course; ``lock`` holds its row until the
    transaction ends."""
    if conn.execute(_EXISTS_FOR_UPDATE if lock else _EXISTS, (course_id, tenant_id)).fetchone() is None:
        raise NotFound("No course with this id.")


def brief(conn: psycopg.Connection, tenant_id: str, course_id: str) -> dict:
    """The fields that frame a course's structure (title, description, goal, expected
    knowledge and skills); :class:`NotFound` otherwise."""
    course = get(conn, tenant_id, course_id)
    return {k: course[k] for k in ("id", "title", "description", "learning_goal", *STRUCTURE_FIELDS)}


STRUCTURE_FIELDS = ("expected_knowledge", "expected_skills")


def set_structure_fields(
    conn: psycopg.Connection, tenant_id: str, course_id: str, fields: dict[str, Any], *, restoring: bool = False
) -> None:
    """What a structure run says of the whole course: description, goal, expected knowledge
    and skills. The title stays the client's, and so does any field the client set
    (``edited``), unless ``restoring``: a restore sets each field back as a version held it."""
    assignments = ", ".join(
        f"{name} = %s" if restoring else f"{name} = CASE WHEN '{name}' = ANY(edited) THEN {name} ELSE %s END"
        for name in _RUN_WRITES
    )
    conn.execute(
        f"UPDATE courses SET {assignments}, updated_at = now() WHERE id = %s AND tenant_id = %s",  # noqa: S608
        (
            fields.get("description"),
            fields.get("learning_goal"),
            list(fields.get("expected_knowledge", ())),
            list(fields.get("expected_skills", ())),
            course_id,
            tenant_id,
        ),
    )


# the course's fields a run (or a restore) writes, in this order
_RUN_WRITES = ("description", "learning_goal", "expected_knowledge", "expected_skills")


def current_revision(conn: psycopg.Connection, tenant_id: str, course_id: str) -> int:
    """The course's revision (every change under it bumps it): what the document's ETag and
    cache follow."""
    row = conn.execute(
        "SELECT revision FROM courses WHERE id = %s AND tenant_id = %s", (course_id, tenant_id)
    ).fetchone()
    if row is None:
        raise NotFound("No course with this id.")
    return row[0]
