"""Routes as data: each service lists ``Route`` rows, each declaring who may call it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The versioned root of the public API: route tables and Location headers start with it.
API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    """``path`` served by ``resource``; ``scopes`` maps each HTTP method to the API-key
    scopes allowed to call it. A route with ``public=True`` needs no key."""

    path: str
    resource: object
    scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    public: bool = False
