"""API-key scopes: the two products a tenant can buy."""

from __future__ import annotations

PREP = "prep"
CHECK = "check"
ALL_SCOPES = (PREP, CHECK)

PREP_ONLY = frozenset({PREP})
CHECK_ONLY = frozenset({CHECK})
PREP_OR_CHECK = frozenset({PREP, CHECK})


def parse_scopes(raw: str) -> tuple[str, ...]:
    """``"prep,check"`` → ``("prep", "check")``; ValueError naming a bad or missing scope."""
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise ValueError("at least one scope is required (prep, check)")
    unknown = [name for name in names if name not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}: use prep, check or prep,check")
    return tuple(scope for scope in ALL_SCOPES if scope in names)


def bucket_scope(route_scopes: frozenset[str], key_scopes: frozenset[str]) -> str:
    """The scope whose rate bucket a call consumes: routes open to both bill ``check``
    when the key has it, otherwise ``prep``."""
    allowed = route_scopes & key_scopes
    return CHECK if CHECK in allowed else PREP
