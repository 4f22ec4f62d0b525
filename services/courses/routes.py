"""The courses service's route table, each route with the scopes that may call it."""

from __future__ import annotations

import socket
from decimal import Decimal

import redis
from psycopg_pool import ConnectionPool

from libs.access.scopes import PREP_ONLY, PREP_OR_CHECK
from libs.http.routing import API_PREFIX, Route
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from libs.sources.pinned_http import Resolver
from services.courses import schemas, usage, webhooks
from services.courses import structure_edits as edits
from services.courses.course_changes import CourseChanges
from services.courses.document import DocumentCache
from services.courses.resources import (
    CostReport,
    CourseCollection,
    CourseItem,
    LessonItem,
    SlideMapping,
)
from services.courses.usage import Usage

SCHEMAS = {**schemas.SCHEMAS, **usage.SCHEMAS, **webhooks.SCHEMAS}  # read by services.openapi

COURSE = API_PREFIX + "/courses/{course_id:uuid}"
# the author's edits of the structure: prep, like every other write of a course
ADD = {"POST": PREP_ONLY}
EDIT = {"PATCH": PREP_ONLY, "DELETE": PREP_ONLY}


def routes(
    pool: ConnectionPool | None = None,
    storage: Storage | None = None,
    cache: DocumentCache | None = None,
    changes: CourseChanges | None = None,
    *,
    settings: Settings | None = None,
    redis_client: redis.Redis | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    cache = cache or DocumentCache()
    return [
        Route("/api/v1/courses", CourseCollection(pool), {"POST": PREP_ONLY, "GET": PREP_OR_CHECK}),
        Route(
            COURSE,
            CourseItem(pool, storage, cache, changes),
            {"GET": PREP_OR_CHECK, "PATCH": PREP_ONLY, "DELETE": PREP_ONLY},
        ),
        Route(
            COURSE + "/lessons/{lesson_id:uuid}",
            LessonItem(pool, cache),
            {"GET": PREP_OR_CHECK, "PATCH": PREP_ONLY, "DELETE": PREP_ONLY},
        ),
        # the author's edits of the structure
        Route(COURSE + "/modules", edits.collection("modules")(pool, cache), {"POST": PREP_ONLY}),
        Route(COURSE + "/modules/{module_id:uuid}", edits.item("modules")(pool, cache), EDIT),
        Route(
            COURSE + "/modules/{module_id:uuid}/lessons", edits.collection("lessons")(pool, cache), {"POST": PREP_ONLY}
        ),
        Route(
            COURSE + "/lessons/{lesson_id:uuid}/concepts",
            edits.collection("concepts")(pool, cache),
            {"POST": PREP_ONLY},
        ),
        Route(
            COURSE + "/lessons/{lesson_id:uuid}/exercises",
            edits.collection("exercises")(pool, cache),
            {"POST": PREP_ONLY},
        ),
        Route(COURSE + "/concepts/{concept_id:uuid}", edits.item("concepts")(pool, cache), EDIT),
        Route(COURSE + "/exercises/{exercise_id:uuid}", edits.item("exercises")(pool, cache), EDIT),
        Route(COURSE + "/slide-mapping", SlideMapping(pool), {"POST": PREP_ONLY, "GET": PREP_ONLY}),
        Route("/api/v1/reports/cost", CostReport(pool), {"GET": PREP_OR_CHECK}),
        Route(
            "/api/v1/usage",
            Usage(pool, redis_client, settings.llm_monthly_budget_usd if settings else Decimal(0)),
            {"GET": PREP_OR_CHECK},
        ),
        *webhooks.routes(pool, allow_private=bool(settings and settings.webhook_allow_private), resolver=resolver),
    ]
