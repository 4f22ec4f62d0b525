"""The one place that turns errors into JSON HTTP answers.

Domain errors (:mod:`libs.errors`) are mapped with fixed titles. Anything unexpected is logged
with its traceback and answered with a generic 500 that reveals nothing.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import falcon
import psycopg
from psycopg_pool import PoolTimeout

from libs.errors import BudgetExceeded, Conflict, DomainError, Invalid, NotFound, QuotaExceeded, Stale, Unavailable

log = logging.getLogger(__name__)


class Detailed(falcon.HTTPError):
    """An answer with a domain error's ``details`` beside its title and description."""

    def __init__(self, status: str, title: str, ex: DomainError, **kwargs: Any) -> None:
        super().__init__(status, title=title, description=ex.description, **kwargs)
        self.details = ex.details


class ValidationFailed(falcon.HTTPUnprocessableEntity):
    """The 422 answer: besides title and description, ``errors: [{field, message}]``."""

    def __init__(self, description: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(title="Invalid input", description=description)
        self.errors = [{"field": name, "message": message} for name, message in errors]


def _not_found(req: falcon.Request, resp: falcon.Response, ex: NotFound, params: Any) -> None:
    raise falcon.HTTPNotFound(title="Not found", description=ex.description)


def _conflict(req: falcon.Request, resp: falcon.Response, ex: Conflict, params: Any) -> None:
    raise Detailed(falcon.HTTP_409, "Conflict", ex)


def _quota_exceeded(req: falcon.Request, resp: falcon.Response, ex: QuotaExceeded, params: Any) -> None:
    # 413, not 507: what is refused is this tenant's request, by a limit set for the tenant,
    # and the client can act on it (delete materials, ask for more). A 5xx would say the server
    # failed, be counted as such by monitoring, and be retried by clients and proxies that
    # retry server errors, each retry refused again.
    raise Detailed(falcon.HTTP_413, "Storage quota exceeded", ex)


def _budget_exceeded(req: falcon.Request, resp: falcon.Response, ex: BudgetExceeded, params: Any) -> None:
    # 402: the request is fine and the service is well; the tenant's money is what is missing
    raise Detailed(falcon.HTTP_402, "LLM budget exceeded", ex)


def _stale(req: falcon.Request, resp: falcon.Response, ex: Stale, params: Any) -> None:
    raise falcon.HTTPPreconditionFailed(title="Precondition failed", description=ex.description)


def _invalid(req: falcon.Request, resp: falcon.Response, ex: Invalid, params: Any) -> None:
    raise ValidationFailed(ex.description, ex.errors)


def _unavailable(req: falcon.Request, resp: falcon.Response, ex: Unavailable, params: Any) -> None:
    raise falcon.HTTPServiceUnavailable(title="Service unavailable", description=ex.description, retry_after=5)


def _database_unavailable(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    # the pool timed out waiting for a connection, or the server went away mid-query
    log.error("database unavailable on %s %s: %s", req.method, req.path, ex)
    raise falcon.HTTPServiceUnavailable(
        title="Service unavailable", description="The database is unavailable; try again shortly.", retry_after=5
    )


def _unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    log.error("unhandled error on %s %s", req.method, req.path, exc_info=ex)
    raise falcon.HTTPInternalServerError(
        title="Internal server error",
        description="The server failed to handle this request; quote the X-Request-ID when reporting it.",
    )


def _serialize_json(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    # Always JSON, whatever the client's Accept header asks for: clients parse one shape.
    # Falcon's built-in titles read "405 Method Not Allowed"; the status line says that already.
    title = re.sub(r"^\d{3} ", "", exc.title or "Error")
    body: dict[str, Any] = {"title": title, "description": exc.description or title}
    if isinstance(exc, ValidationFailed):
        body["errors"] = exc.errors
    if isinstance(exc, Detailed):
        body.update(exc.details)
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(body)


def install_error_handling(app: falcon.App) -> None:
    """Map domain errors to JSON HTTP errors with fixed titles; anything else to a logged, generic 500."""
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(NotFound, _not_found)
    app.add_error_handler(Conflict, _conflict)
    app.add_error_handler(QuotaExceeded, _quota_exceeded)
    app.add_error_handler(BudgetExceeded, _budget_exceeded)
    app.add_error_handler(Invalid, _invalid)
    app.add_error_handler(Stale, _stale)
    app.add_error_handler(Unavailable, _unavailable)
    app.add_error_handler((psycopg.OperationalError, PoolTimeout), _database_unavailable)
    app.set_error_serializer(_serialize_json)
