"""Each vocabulary or range the code declares once is the one its table's CHECK constraint
allows: the migrations repeat them in SQL, and this ties the two, so a value added on one side
only fails here rather than in production."""

from __future__ import annotations

import re

import pytest

from libs.access.scopes import ALL_SCOPES
from libs.jobs import queue
from libs.store import materials, structure
from libs.webhooks import deliveries, events
from services.agent import documents
from services.agent.check import submissions

# (table, column, what the code declares): a set of words, or an inclusive (low, high) range
VOCABULARIES = [
    ("jobs", "kind", set(queue.KINDS)),
    ("jobs", "status", set(queue.STATUSES)),
    ("source_materials", "source_type", set(materials.SOURCE_TYPES)),
    ("source_materials", "status", set(materials.STATUSES)),
    ("document_chunks", "kind", set(documents.CHUNK_KINDS)),
    ("modules", "difficulty", set(structure.DIFFICULTIES)),
    ("exercises", "difficulty", tuple(structure.EXERCISE_DIFFICULTY)),
    ("api_keys", "scopes", set(ALL_SCOPES)),
    ("submissions", "status", set(submissions.STATUSES)),
    ("submissions", "score", tuple(submissions.SCORE_RANGE)),
    ("webhook_events", "type", set(events.EVENT_TYPES)),
    ("webhook_deliveries", "status", set(deliveries.STATUSES)),
]


def _check_of(db, table: str, column: str) -> str:
    rows = db.execute(
        "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)"
        " WHERE c.contype = 'c' AND c.conrelid = %s::regclass AND a.attname = %s"
        " AND cardinality(c.conkey) = 1",
        (table, column),
    ).fetchall()
    assert len(rows) == 1, f"{table}.{column}: {len(rows)} CHECK constraints on it alone"
    return rows[0][0]


@pytest.mark.parametrize(
    ("table", "column", "declared"), VOCABULARIES, ids=lambda v: str(v) if isinstance(v, str) else ""
)
def test_the_code_and_the_check_constraint_allow_the_same_values(db, table, column, declared):
    check = _check_of(db, table, column)
    if isinstance(declared, set):
        assert set(re.findall(r"'([^']*)'::text", check)) == declared, check
    else:
        bounds = re.search(r">= (-?\d+)\) AND .*<= (-?\d+)\)", check)
        assert bounds is not None, check
        assert (int(bounds.group(1)), int(bounds.group(2))) == declared, check
