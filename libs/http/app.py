"""The one app factory every service calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.access.auth import Authenticator
from libs.access.keycache import KeyCache
from libs.access.ratelimit import RateLimiter
from libs.http import request_rules
from libs.http.errors import install_error_handling
from libs.http.health import Check, Health, database_check, liveness_check, redis_check, storage_check
from libs.http.idempotency import Idempotency
from libs.http.json_media import JsonMedia
from libs.http.middleware import AccessControl, Cors, RequestContext
from libs.http.request_rules import RequestRules
from libs.http.routing import Route
from libs.platform.settings import Settings
from libs.platform.storage import Storage


class Liveness:
    """``GET /health/live``: the process answers, nothing else is checked (container liveness,
    and the benchmark's per-request ceiling of the stack)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


def _require_declared_scopes(route: Route) -> None:
    """Every responder of a protected route must say which scopes may call it: a forgotten
    entry would otherwise be served without any key. Caught at start-up, not in production."""
    if route.public:
        return
    served = {
        m for m in falcon.constants.COMBINED_METHODS if callable(getattr(route.resource, f"on_{m.lower()}", None))
    }
    missing = sorted(served - {m.upper() for m in route.scopes})
    if missing:
        raise ValueError(f"route {route.path}: no scopes declared for {', '.join(missing)}")


class _HeadAsGet:
    """A resource that also answers HEAD with its GET responder, leaving the resource itself
    untouched (the same route table also feeds the OpenAPI document, which lists no HEAD).
    Falcon drops the body of a HEAD answer and keeps its headers, Content-Length included."""

    def __init__(self, resource: object) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> object:
        return getattr(self._resource, "on_get" if name == "on_head" else name)


def _with_head(resource: object) -> object:
    serves_get = callable(getattr(resource, "on_get", None))
    return _HeadAsGet(resource) if serves_get and not hasattr(resource, "on_head") else resource


def _method_scopes(route: Route) -> dict[str, frozenset[str]]:
    """The route's scopes by method, HEAD sharing GET's unless the resource has its own."""
    scopes = {method.upper(): allowed for method, allowed in route.scopes.items()}
    if "GET" in scopes:
        scopes.setdefault("HEAD", scopes["GET"])
    return scopes


def _answering() -> None:
    """The liveness of the service running this check: it is running it."""


def build_app(
    settings: Settings,
    *,
    routes: Iterable[Route],
    pool: ConnectionPool,
    redis_client: redis.Redis,
    storage: Storage,
    health_checks: Mapping[str, Check] | None = None,
    service: str | None = None,
) -> falcon.App:
    """A Falcon app with request ids, access logs, CORS, JSON errors, API-key auth with
    scopes, the shared rate limit, ``GET /health``, and the service's ``routes``; HEAD is
    served wherever GET is, and Falcon's 405 answers carry ``Allow``."""
    routes = list(routes)
    for route in routes:
        _require_declared_scopes(route)
    route_scopes = {
        (route.path, method): scopes
        for route in routes
        if not route.public
        for method, scopes in _method_scopes(route).items()
    }
    app = falcon.App(
        middleware=[
            RequestContext(),
            RequestRules(),
            Cors(settings),
            AccessControl(Authenticator(pool), RateLimiter(redis_client), KeyCache(redis_client), route_scopes),
            Idempotency(pool),  # after AccessControl: a key is the tenant's
        ]
    )
    # Trailing slashes are a common client slip; treat /x/ as /x.
    app.req_options.strip_url_path_trailing_slash = True
    request_rules.apply(app)
    json_handler = JsonMedia(settings.max_json_bytes)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    install_error_handling(app)
    checks = {
        "db": database_check(pool),
        "redis": redis_check(redis_client),
        "s3": storage_check(storage),
        **(health_checks or {}),  # the service's own (the agent's queue)
    }
    app.add_route("/health", _with_head(Health(checks)))
    # The public /health (the gateway sends it here): these checks plus every other service's
    # liveness, so a stopped or stuck service shows by name. This service is alive — it is
    # answering — and asking itself over HTTP would only fail when /health itself is what
    # keeps its threads busy.
    peers = {
        name: _answering if name == service else liveness_check(url) for name, url in settings.service_urls.items()
    }
    app.add_route("/health/stack", _with_head(Health({**checks, **peers})))
    app.add_route("/health/live", _with_head(Liveness()))
    for route in routes:
        app.add_route(route.path, _with_head(route.resource))
    return app
