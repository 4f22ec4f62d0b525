"""Keyset pagination: ``limit`` and an opaque ``cursor`` in, ``{items, total, limit,
next_cursor}`` out. Stable under concurrent inserts: no duplicates, no gaps, and the cost of a
page does not grow with how deep it is. Lists of rows order by ``(created_at, id)``; ordered
documents (a material's chunks) by ``position``, with a cursor of their own format."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import falcon

from libs.errors import Invalid
from libs.http.validation import Integer, Text, query, query_parameters

DEFAULT_LIMIT = 20
# Declared once: the validator and the OpenAPI parameters both read these.
QUERY = {
    "limit": Integer(minimum=1, maximum=100, description=f"Items per page (default {DEFAULT_LIMIT})"),
    "cursor": Text(
        max_length=200,
        pattern="[A-Za-z0-9_-]+",
        pattern_hint="a next_cursor this API returned",
        format="cursor",
        description="next_cursor of the previous page",
    ),
}
PARAMETERS = query_parameters(QUERY)
POSITION_QUERY = {
    "limit": QUERY["limit"],
    "cursor": Text(
        max_length=40,
        pattern="[A-Za-z0-9_-]+",
        pattern_hint="a next_cursor this API returned",
        description="next_cursor of the previous page",
        format="position-cursor",
    ),
}
POSITION_PARAMETERS = query_parameters(POSITION_QUERY)


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: ``after`` is the (created_at, id) of the previous page's
    last item, or None for the first page."""

    limit: int
    after: tuple[datetime, str] | None

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page, to learn whether another page follows."""
        return self.limit + 1


def page_request(req: falcon.Request) -> PageRequest:
    """``limit`` and ``cursor`` of the request, or 422 naming the bad one."""
    values = query(req, QUERY)
    cursor = values.get("cursor")
    return PageRequest(values.get("limit", DEFAULT_LIMIT), decode_cursor(cursor) if cursor else None)


def _wrap(value: Any) -> str:
    # JSON in unpadded URL-safe base64: opaque to clients, and safe in a query string
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _unwrap(cursor: str) -> Any:
    """What :func:`_wrap` put in; ValueError for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except binascii.Error as exc:
        raise ValueError from exc


def _not_a_cursor() -> Invalid:
    return Invalid("cursor: not a cursor this API returned", field="cursor")


def _page(rows: Sequence[dict[str, Any]], limit: int, total: int, cursor_of: Any) -> dict[str, Any]:
    """The answer for ``rows`` fetched with ``LIMIT limit + 1``: the extra row only says that
    another page follows, and ``cursor_of`` the page's last item makes its cursor."""
    items = list(rows[:limit])
    next_cursor = cursor_of(items[-1]) if len(rows) > limit else None
    return {"items": items, "total": total, "limit": limit, "next_cursor": next_cursor}


def encode_cursor(created_at: datetime, item_id: object) -> str:
    """The opaque cursor after the item created at ``created_at`` with ``item_id``."""
    return _wrap([created_at.isoformat(), str(item_id)])


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) inside a cursor, or 422 when it is not one this API made."""
    try:
        created_at, item_id = _unwrap(cursor)
        return datetime.fromisoformat(created_at), str(uuid.UUID(item_id))
    except (ValueError, TypeError, AttributeError):
        raise _not_a_cursor() from None


def page_of(rows: Sequence[dict[str, Any]], request: PageRequest, total: int) -> dict[str, Any]:
    """The answer for ``rows`` fetched in order with ``LIMIT request.fetch``; each row has
    ``created_at`` and ``id``."""
    return _page(rows, request.limit, total, lambda last: encode_cursor(last["created_at"], last["id"]))


@dataclass(frozen=True)
class PositionRequest:
    """A page of an ordered document: items whose position is greater than ``after``."""

    limit: int
    after: int = -1

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page, to learn whether another page follows."""
        return self.limit + 1


def position_request(req: falcon.Request) -> PositionRequest:
    """``limit`` and a position ``cursor`` of the request, or 422 naming the bad one."""
    values = query(req, POSITION_QUERY)
    cursor = values.get("cursor")
    return PositionRequest(values.get("limit", DEFAULT_LIMIT), decode_position(cursor) if cursor else -1)


def encode_position(position: int) -> str:
    """The opaque cursor after the item at ``position``."""
    return _wrap({"after": position})


def decode_position(cursor: str) -> int:
    """The position inside a cursor, or 422 when it is not one this API made."""
    try:
        position = _unwrap(cursor)["after"]
    except (ValueError, TypeError, KeyError):
        position = None
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < 2**31:
        raise _not_a_cursor()
    return position


def position_page_of(
    rows: Sequence[dict[str, Any]], request: PositionRequest, total: int, *, key: str = "position"
) -> dict[str, Any]:
    """The answer for ``rows`` fetched in order of ``key`` (an integer: a chunk's position, a
    version's number) with ``LIMIT request.fetch``."""
    return _page(rows, request.limit, total, lambda last: encode_position(last[key]))


def page_schema(item: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a page of ``item``s."""
    return {
        "type": "object",
        "required": ["items", "total", "limit", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": item},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "next_cursor": {"type": "string", "nullable": True},
        },
    }
