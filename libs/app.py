"""The one app factory every service calls."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.auth import Authenticator
from libs.encoding import json_default
from libs.errors import install_error_handling
from libs.health import Check, Health, database_check, redis_check, storage_check
from libs.keycache import KeyCache
from libs.middleware import AccessControl, Cors, RequestContext
from libs.ratelimit import RateLimiter
from libs.routing import Route
from libs.settings import Settings
from libs.storage import Storage


class Liveness:
    """``GET /health/live``: the process answers, nothing else is checked (container liveness,
    and the benchmark's per-request ceiling of the stack)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


def build_app(
    settings: Settings,
    *,
    routes: Iterable[Route],
    pool: ConnectionPool,
    redis_client: redis.Redis,
    storage: Storage,
    extra_checks: Mapping[str, Check] | None = None,
) -> falcon.App:
    """A Falcon app with request ids, access logs, CORS, JSON errors, API-key auth with
    scopes, the shared rate limit, ``GET /health``, and the service's ``routes``."""
    routes = list(routes)
    route_scopes = {
        (route.path, method.upper()): scopes
        for route in routes
        if not route.public
        for method, scopes in route.scopes.items()
    }
    protected = frozenset(route.path for route in routes if not route.public)
    app = falcon.App(
        middleware=[
            RequestContext(),
            Cors(settings),
            AccessControl(
                Authenticator(pool), RateLimiter(redis_client), KeyCache(redis_client), route_scopes, protected
            ),
        ]
    )
    # Trailing slashes are a common client slip; treat /x/ as /x.
    app.req_options.strip_url_path_trailing_slash = True
    json_handler = falcon.media.JSONHandler(dumps=functools.partial(json.dumps, default=json_default))
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    install_error_handling(app)
    checks = {
        "db": database_check(pool),
        "redis": redis_check(redis_client),
        "s3": storage_check(storage),
        **(extra_checks or {}),
    }
    app.add_route("/health", Health(checks))
    app.add_route("/health/live", Liveness())
    for route in routes:
        app.add_route(route.path, route.resource)
    return app
