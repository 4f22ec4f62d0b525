"""The one owner of ``document_chunks``: what ingestion extracted from a material, as one
ordered document of typed chunks. The agent's worker replaces a material's chunks; the API
reads them a page at a time. Every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# kind → what its metadata holds (every key optional unless the processor knows it):
#   heading: level (1-6);  page: page (1-based);  slide: slide (1-based), title;
#   transcript: start_seconds, end_seconds;  web: url;  paragraph: page or slide when known
CHUNK_KINDS = ("heading", "paragraph", "page", "slide", "transcript", "web")


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
            for count, chunk in enumerate(chunks, start=1):
                text, metadata = _no_nul(chunk.text), Jsonb(_no_nul(chunk.metadata))
                copy.write_row((tenant_id, material_id, count - 1, chunk.kind, text, metadata))
    return count


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


def count(conn: psycopg.Connection, tenant_id: str, material_id: str) -> int:
    """How many chunks the material's document has."""
    return conn.execute(
        "SELECT count(*) FROM document_chunks WHERE material_id = %s AND tenant_id = %s", (material_id, tenant_id)
    ).fetchone()[0]


def read_all(conn: psycopg.Connection, tenant_id: str, material_id: str) -> list[dict]:
    """The material's whole document, in order (for the ArchitectAgent's context)."""
    return page(conn, tenant_id, material_id, after=-1, limit=2**31 - 1)
