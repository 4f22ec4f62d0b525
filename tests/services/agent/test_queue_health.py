"""The agent's /health watches the queue: how old the oldest due job is, and a failure when a
job has waited past the limit (no worker takes jobs), with the figure still in the answer."""

from collections.abc import Iterator

import falcon.testing
import pytest

from libs.http.app import build_app
from libs.jobs import queue
from services.agent.app import queue_check
from services.agent.routes import routes

WAITED = 120  # seconds the planted job has waited


@pytest.fixture
def waiting_job(stack, tenant, db) -> Iterator[str]:
    """A job due two minutes ago that no worker takes: the stack's worker is paused meanwhile."""
    stack.services.stop_worker()
    try:
        job_id = queue.enqueue(db, tenant.id, "generate_structure", delay_seconds=-WAITED)
        yield job_id
        db.execute("DELETE FROM jobs WHERE id = %s", (job_id,))
    finally:
        stack.services.start_worker()


def health(settings, pool, redis_client, storage, stalled_after: float) -> falcon.testing.Result:
    app = build_app(
        settings,
        routes=routes(pool, settings),
        pool=pool,
        redis_client=redis_client,
        storage=storage,
        health_checks={"queue": queue_check(pool, stalled_after=stalled_after)},
    )
    return falcon.testing.TestClient(app).simulate_get("/health")


def test_a_healthy_queue_reports_the_age_of_its_oldest_job(settings, pool, redis_client, storage, waiting_job):
    result = health(settings, pool, redis_client, storage, stalled_after=3600)
    assert result.status_code == 200
    assert result.json["checks"]["queue"] == "ok"
    assert WAITED <= result.json["metrics"]["oldest_queued_job_seconds"] < 3600


def test_a_stalled_queue_fails_saying_how_long_it_has_waited(settings, pool, redis_client, storage, waiting_job):
    result = health(settings, pool, redis_client, storage, stalled_after=WAITED / 2)
    assert result.status_code == 503
    assert result.json["checks"]["queue"] == "fail"
    assert result.json["metrics"]["oldest_queued_job_seconds"] >= WAITED
