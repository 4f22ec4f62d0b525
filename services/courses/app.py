"""The courses service's app factory."""

from __future__ import annotations

import socket

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.http.app import build_app
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from libs.sources.pinned_http import Resolver
from services.courses.course_changes import CourseChanges
from services.courses.document import DocumentCache
from services.courses.routes import routes


def create_app(
    settings: Settings,
    *,
    pool: ConnectionPool,
    redis_client: redis.Redis,
    storage: Storage,
    resolver: Resolver = socket.getaddrinfo,
) -> falcon.App:
    """The courses service: courses, their documents, lessons, slide mapping, cost report,
    webhooks (whose URLs' names ``resolver`` looks up). Starts this process's listener for
    course changes, which keeps the document cache true."""
    cache = DocumentCache()
    changes = CourseChanges(settings.postgres_conninfo, on_change=cache.drop, on_reset=cache.clear)
    changes.start()
    return build_app(
        settings,
        service="courses",
        routes=routes(
            pool,
            storage,
            cache,
            changes,
            settings=settings,
            redis_client=redis_client,
            resolver=resolver,
        ),
        pool=pool,
        redis_client=redis_client,
        storage=storage,
    )
