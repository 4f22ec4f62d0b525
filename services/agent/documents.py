"""The one owner of ``document_chunks``: what ingestion extracted from a material, as one
ordered document of typed chunks. The agent's worker replaces a material's chunks; the API
reads them a page at a time. Every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# kind → what its metadata holds (every key optional unless the processor knows it):
#   heading: level (1-6);  page: page (1-based);  slide: slide (1-based), title;
#   transcript: start_seconds, end_seconds;  web: url;  paragraph: page or slide when known
CHUNK_KINDS = ("heading", "paragraph", "page", "slide", "transcript", "web")
# A chunk holds at most this many characters: a longer one (a 50 MB cue, a page of text with
# no paragraph breaks) is stored as consecutive chunks of the same kind and metadata, cut at
# a space where there is one. So no one chunk is too big to read, page or embed.
CHUNK_MAX_CHARS = 4000
# A page of the document holds at most about this many bytes of text, whatever its limit
# (always at least one chunk): 100 chunks at the most are still a bounded answer.
PAGE_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """One piece of a material's document."""

    kind: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CHUNK_KINDS:
            raise ValueError(f"unknown chunk kind {self.kind!r}")


CHUNK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["position", "kind", "text", "metadata"],
    "properties": {
        "position": {"type": "integer", "minimum": 0},
        "kind": {"type": "string", "enum": list(CHUNK_KINDS)},
        "text": {"type": "string"},
        "metadata": {"type": "object"},
    },
}


def replace(conn: psycopg.Connection, tenant_id: str, material_id: str, chunks: Iterable[Chunk]) -> int:
    """Make ``chunks`` the material's whole document (one transaction); return how many.
    COPY streams them, so a 3-hour transcript is one round trip."""
    count = 0
    with conn.transaction():
        conn.execute("DELETE FROM document_chunks WHERE material_id = %s AND tenant_id = %s", (material_id, tenant_id))
        with conn.cursor().copy(
            "COPY document_chunks (tenant_id, material_id, position, kind, text, metadata) FROM STDIN"
        ) as copy:
            for count, chunk in enumerate(_bounded(chunks), start=1):
                text, metadata = _no_nul(chunk.text), Jsonb(_no_nul(chunk.metadata))
                copy.write_row((tenant_id, material_id, count - 1, chunk.kind, text, metadata))
    return count


def _bounded(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """The chunks, each longer than CHUNK_MAX_CHARS cut into consecutive ones."""
    for chunk in chunks:
        text = chunk.text
        if len(text) <= CHUNK_MAX_CHARS:
            yield chunk
            continue
        while text:
            cut = len(text) if len(text) <= CHUNK_MAX_CHARS else _cut_at(text)
            piece, text = text[:cut].strip(), text[cut:]
            if piece:
                yield Chunk(chunk.kind, piece, chunk.metadata)


def _cut_at(text: str) -> int:
    """Where to end a piece of ``text``: after the last whitespace in its first
    CHUNK_MAX_CHARS characters (past half of them), else at CHUNK_MAX_CHARS."""
    space = max(text.rfind(" ", 0, CHUNK_MAX_CHARS), text.rfind("\n", 0, CHUNK_MAX_CHARS))
    return space + 1 if space > CHUNK_MAX_CHARS // 2 else CHUNK_MAX_CHARS


def _no_nul(value: Any) -> Any:
    """``value`` without NUL characters, which neither text nor jsonb can hold: a file may carry
    them past the upload's first-bytes check (a .txt with one deep inside, a web page)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def page(conn: psycopg.Connection, tenant_id: str, material_id: str, *, after: int, limit: int) -> list[dict]:
    """Up to ``limit`` chunks whose position is greater than ``after`` (-1 for the first page)."""
    return [
        {"position": position, "kind": kind, "text": text, "metadata": metadata}
        for position, kind, text, metadata in conn.execute(
            "SELECT position, kind, text, metadata FROM document_chunks"
            " WHERE material_id = %s AND tenant_id = %s AND position > %s ORDER BY position LIMIT %s",
            (material_id, tenant_id, after, limit),
        )
    ]


# The chunks after a position, up to a limit, and within PAGE_MAX_BYTES: a chunk is kept while
# the text before it on the page is under the budget (octet_length reads a stored value's size
# without unpacking it). ``fetched`` says how many the limit let through, so a page cut by the
# budget is known to have more after it.
_PAGE_WITHIN = """
SELECT position, kind, text, metadata, fetched FROM (
    SELECT position, kind, text, metadata, count(*) OVER () AS fetched,
           sum(octet_length(text)) OVER (ORDER BY position) - octet_length(text) AS before
      FROM (SELECT position, kind, text, metadata FROM document_chunks
             WHERE material_id = %(material)s AND tenant_id = %(tenant)s AND position > %(after)s
             ORDER BY position LIMIT %(limit)s) fetched
) page WHERE before < %(budget)s ORDER BY position
"""


def page_within(
    conn: psycopg.Connection, tenant_id: str, material_id: str, *, after: int, limit: int
) -> tuple[list[dict], bool]:
    """Like :func:`page`, within PAGE_MAX_BYTES: the chunks, and whether the budget cut the
    page short of ``limit`` while more chunks follow."""
    params = {"material": material_id, "tenant": tenant_id, "after": after, "limit": limit, "budget": PAGE_MAX_BYTES}
    found = conn.execute(_PAGE_WITHIN, params).fetchall()
    rows = [
        {"position": position, "kind": kind, "text": text, "metadata": metadata}
        for position, kind, text, metadata, _ in found
    ]
    return rows, bool(found) and len(found) < found[0][4]


def count(conn: psycopg.Connection, tenant_id: str, material_id: str) -> int:
    """How many chunks the material's document has."""
    return conn.execute(
        "SELECT count(*) FROM document_chunks WHERE material_id = %s AND tenant_id = %s", (material_id, tenant_id)
    ).fetchone()[0]


def read_all(conn: psycopg.Connection, tenant_id: str, material_id: str) -> list[dict]:
    """The material's whole document, in order (for the ArchitectAgent's context)."""
    return page(conn, tenant_id, material_id, after=-1, limit=2**31 - 1)


def text_sizes(conn: psycopg.Connection, tenant_id: str, material_ids: list[str]) -> list[int]:
    """The characters of text each of the materials' documents holds (what a structure run
    would send), in no particular order: one indexed sum per material."""
    rows = conn.execute(
        "SELECT coalesce(sum(length(text)), 0) FROM document_chunks"
        " WHERE tenant_id = %s AND material_id = ANY(%s::uuid[]) GROUP BY material_id",
        (tenant_id, material_ids),
    ).fetchall()
    return [int(row[0]) for row in rows]
