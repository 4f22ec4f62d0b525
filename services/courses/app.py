"""The courses service's app factory."""

from __future__ import annotations

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.http.app import build_app
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from services.courses.course_changes import CourseChanges
from services.courses.document import DocumentCache
from services.courses.routes import routes


def create_app(settings: Settings, *, pool: ConnectionPool, redis_client: redis.Redis, storage: Storage) -> falcon.App:
    """The courses service: courses, their documents, lessons, slide mapping, cost report.
    Starts this process's listener for course changes, which keeps the document cache true."""
    cache = DocumentCache()
    changes = CourseChanges(settings.postgres_conninfo, on_change=cache.drop, on_reset=cache.clear)
    changes.start()
    return build_app(
        settings,
        service="courses",
        routes=routes(pool, storage, cache, changes),
        pool=pool,
        redis_client=redis_client,
        storage=storage,
    )
