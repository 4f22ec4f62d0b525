"""The uploads service's app, built from what it is given."""

from __future__ import annotations

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.app import build_app
from libs.settings import Settings
from libs.storage import Storage
from services.uploads.routes import routes


def create_app(settings: Settings, *, pool: ConnectionPool, redis_client: redis.Redis, storage: Storage) -> falcon.App:
    return build_app(
        settings,
        service="uploads",
        routes=routes(
            pool,
            storage,
            redis_client,
            max_upload_bytes=settings.max_upload_bytes,
            uploads_per_tenant=settings.max_concurrent_uploads_per_tenant,
        ),
        pool=pool,
        redis_client=redis_client,
        storage=storage,
    )
