"""The agent service's app factory (its worker is services/agent/worker.py)."""

from __future__ import annotations

from collections.abc import Mapping

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.http.app import build_app
from libs.http.health import Check
from libs.jobs import queue
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from services.agent.routes import routes

# A job queued longer than this means no worker is taking jobs: /health/agent fails.
STALLED_QUEUE_SECONDS = 300.0


class QueueStalled(Exception):
    """The oldest queued job has waited too long; ``metrics`` says how long."""

    def __init__(self, age: float) -> None:
        super().__init__(f"the oldest queued job has waited {age:.0f} s")
        self.metrics = {"oldest_queued_job_seconds": round(age, 3)}


def queue_check(pool: ConnectionPool, *, stalled_after: float = STALLED_QUEUE_SECONDS) -> Check:
    """How old the oldest due queued job is (a metric for Netdata); fails past ``stalled_after``."""

    def check() -> Mapping[str, float]:
        with pool.connection(timeout=2) as conn:
            age = queue.oldest_queued_age_seconds(conn) or 0.0
        if age > stalled_after:
            raise QueueStalled(age)
        return {"oldest_queued_job_seconds": round(age, 3)}

    return check


def create_app(settings: Settings, *, pool: ConnectionPool, redis_client: redis.Redis, storage: Storage) -> falcon.App:
    """The agent's API: jobs, documents, structure runs, submissions, progress and search; its
    /health watches the queue."""
    return build_app(
        settings,
        service="agent",
        routes=routes(pool, settings, redis_client),
        pool=pool,
        redis_client=redis_client,
        storage=storage,
        health_checks={"queue": queue_check(pool)},
    )
