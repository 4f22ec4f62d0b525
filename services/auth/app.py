"""The auth service's app factory."""

from __future__ import annotations

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.http.app import build_app
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from services.auth.routes import routes


def create_app(settings: Settings, *, pool: ConnectionPool, redis_client: redis.Redis, storage: Storage) -> falcon.App:
    """The auth service: ``/api/v1/auth/me`` and the API documentation."""
    return build_app(settings, service="auth", routes=routes(), pool=pool, redis_client=redis_client, storage=storage)
