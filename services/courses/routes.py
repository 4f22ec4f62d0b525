"""The courses service's route table, each route with the scopes that may call it."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs.access.scopes import PREP_ONLY, PREP_OR_CHECK
from libs.http.routing import Route
from libs.platform.storage import Storage
from services.courses.course_changes import CourseChanges
from services.courses.document import DocumentCache
from services.courses.resources import (
    CostReport,
    CourseCollection,
    CourseItem,
    LessonItem,
    SlideMapping,
)
from services.courses.schemas import SCHEMAS  # noqa: F401  (read by services.openapi)

COURSE = "/api/v1/courses/{course_id:uuid}"


def routes(
    pool: ConnectionPool | None = None,
    storage: Storage | None = None,
    cache: DocumentCache | None = None,
    changes: CourseChanges | None = None,
) -> list[Route]:
    """The route table; built without connections it serves only to describe the API."""
    return [
        Route("/api/v1/courses", CourseCollection(pool), {"POST": PREP_ONLY, "GET": PREP_OR_CHECK}),
        Route(
            COURSE,
            CourseItem(pool, storage, cache or DocumentCache(), changes),
            {"GET": PREP_OR_CHECK, "PATCH": PREP_ONLY, "DELETE": PREP_ONLY},
        ),
        Route(COURSE + "/lessons/{lesson_id:uuid}", LessonItem(pool), {"GET": PREP_OR_CHECK}),
        Route(COURSE + "/slide-mapping", SlideMapping(pool), {"POST": PREP_ONLY, "GET": PREP_ONLY}),
        Route("/api/v1/reports/cost", CostReport(pool), {"GET": PREP_OR_CHECK}),
    ]
