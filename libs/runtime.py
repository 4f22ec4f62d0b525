"""Process start-up shared by every service's ``wsgi.py``: settings → logging → connections."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.db import create_pool
from libs.log import configure_logging
from libs.redis_client import create_redis
from libs.settings import Settings, SettingsError, load_settings
from libs.storage import Storage, create_storage


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


def connect(settings: Settings, service: str) -> Dependencies:
    """Open the pool (waiting, so a wrong DSN fails at start), and the Redis and S3 clients."""
    pool = create_pool(settings, name=service)
    pool.open(wait=True, timeout=30)
    client = create_redis(settings.redis_url)
    storage = create_storage(settings)
    if not settings.is_production:
        storage.ensure_bucket()
    return Dependencies(settings, pool, client, storage)


def serve(service: str, factory: AppFactory, environ: Mapping[str, str]) -> falcon.App:
    """The WSGI app of ``service``: settings, logging and connections from ``environ``, then ``factory``."""
    settings = settings_or_exit(environ)
    configure_logging(settings, service)
    deps = connect(settings, service)
    return factory(settings, pool=deps.pool, redis_client=deps.redis, storage=deps.storage)
