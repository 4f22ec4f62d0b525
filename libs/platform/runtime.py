"""Process start-up shared by every service's ``wsgi.py``: settings → logging → connections.

gunicorn runs with ``preload_app``: importing ``wsgi.py`` happens once, in the master, so the
interpreter, the libraries and the service's code sit in memory pages every worker shares.
Connections are another matter — a socket, a pool's threads or a TLS session must never cross
a fork — so each worker opens its own in :meth:`ServiceApp.start`, which the gunicorn hook
``post_worker_init`` calls before the worker accepts a request.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.platform.db import StuckStatementWatchdog, create_pool
from libs.platform.log import configure_logging
from libs.platform.redis_client import create_redis
from libs.platform.settings import Settings, SettingsError, load_settings
from libs.platform.storage import Storage, create_storage


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    pool: ConnectionPool
    redis: redis.Redis
    storage: Storage


class AppFactory(Protocol):
    def __call__(
        self, settings: Settings, *, pool: ConnectionPool, redis_client: redis.Redis, storage: Storage
    ) -> falcon.App: ...


def settings_or_exit(environ: Mapping[str, str]) -> Settings:
    """Settings, or a clear list of what is wrong on stderr and exit status 2."""
    try:
        return load_settings(environ)
    except SettingsError as exc:
        print(f"course-supporter: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def connect(settings: Settings, service: str, storage: Storage, *, threads: int) -> Dependencies:
    """Open the pool (waiting, so a wrong DSN fails at start) and the Redis client, beside
    ``storage`` (built already: building one opens no connection). The pool may grow to one
    connection per request thread, so no request waits for another to finish."""
    pool = create_pool(settings, name=service, max_size=threads)
    pool.open(wait=True, timeout=30)
    # a frozen PostgreSQL fails the requests that wait on it within seconds (a 503), not never
    StuckStatementWatchdog(pool, settings.postgres_conninfo).start()
    client = create_redis(settings.redis_url)
    return Dependencies(settings, pool, client, storage)


def ensure_bucket(settings: Settings) -> None:
    """Outside production, create the bucket if it is missing — once per service, through a
    client of its own that is closed again, so no S3 connection is left to cross a fork."""
    if settings.is_production:
        return
    storage = create_storage(settings)
    try:
        storage.ensure_bucket()
    finally:
        storage.client.close()


DEFAULT_THREADS = 8  # request threads assumed when no server says how many it runs


class ServiceApp:
    """The WSGI callable gunicorn serves: settings and logging when built (in the master),
    the connections and the Falcon app in each worker (:meth:`start`)."""

    def __init__(self, service: str, factory: AppFactory, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self._factory = factory
        # The S3 client's service model and endpoint tables are ~14 MiB of parsed JSON: built
        # here they are shared by every worker. Building it opens no connection (urllib3
        # connects on the first request), so no socket crosses the fork.
        self._storage = create_storage(settings, in_request=True)
        ensure_bucket(settings)
        self._app: falcon.App | None = None
        self._starting = threading.Lock()

    def start(self, threads: int = DEFAULT_THREADS) -> falcon.App:
        """Open this process's connections for ``threads`` request threads and build the app
        (once; later calls return it)."""
        with self._starting:
            if self._app is None:
                deps = connect(self.settings, self.service, self._storage, threads=threads)
                self._app = self._factory(self.settings, pool=deps.pool, redis_client=deps.redis, storage=deps.storage)
            return self._app

    def __call__(self, environ: dict, start_response: object) -> Iterable[bytes]:
        # started by the post_worker_init hook; lazily when run without it (another WSGI server)
        app = self._app or self.start()
        return app(environ, start_response)


def serve(service: str, factory: AppFactory, environ: Mapping[str, str]) -> ServiceApp:
    """The WSGI app of ``service``: settings and logging from ``environ`` now, connections and
    ``factory`` in each worker process."""
    settings = settings_or_exit(environ)
    configure_logging(settings, service)
    return ServiceApp(service, factory, settings)
