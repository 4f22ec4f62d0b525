"""Domain errors: what repositories, services and the LLM layer raise, with no HTTP in them.

Repositories and resources raise :class:`NotFound`, :class:`Conflict` or :class:`Invalid`;
:mod:`libs.http.errors` is the one place that maps them to HTTP answers with fixed titles.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors storage and resources raise. ``details`` are fields the error's JSON
    answer carries beside its title and description, for clients to act on."""

    def __init__(self, description: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details = details or {}


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class QuotaExceeded(DomainError):
    """Storing what was asked would take the tenant past its storage quota."""


class BudgetExceeded(DomainError):
    """LLM work the tenant's budget does not cover: this month's spend reached its limit, or a
    run's estimated cost passes the per-run limit. ``details`` carry the figures."""


class Unavailable(DomainError):
    """A dependency (S3, …) failed; the client may retry later."""


class Invalid(DomainError):
    """Input that fails validation. ``errors`` lists each ``(field, message)``; a single
    problem may be given as ``Invalid("title: must not be empty", field="title")``."""

    def __init__(self, description: str, *, field: str | None = None, errors: list[tuple[str, str]] | None = None):
        super().__init__(description)
        if errors is None:
            name = field or "body"
            errors = [(name, description.removeprefix(f"{name}: "))]
        self.errors = errors

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> Invalid:
        """One error for many problems; the description names the first 50."""
        shown = "; ".join(f"{name}: {message}" for name, message in problems[:50])
        return cls(shown + ("; …" if len(problems) > 50 else ""), errors=problems[:200])


class Stale(DomainError):
    """The resource changed since the version the client saw (its ``If-Match``)."""
