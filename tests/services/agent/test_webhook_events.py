"""The failures a job ends with are events too: a structure run or a grading that failed for
good is told to the tenant's webhooks with the job's own plain-words error."""

from __future__ import annotations

import json

import pytest

from libs.jobs.queue import Job
from libs.llm.registry import load_registry
from libs.llm.router import LlmRouter
from libs.webhooks import endpoints
from services.agent.check import submissions
from services.agent.structuring import Structuring
from tests.services.agent.check_helpers import course_with_structure, exercise_ids, submitted


@pytest.fixture
def webhook(db, tenant):
    hook = endpoints.create(
        db,
        tenant.id,
        {"url": "https://hooks.customer-one.com/in", "event_types": ["structure.failed", "submission.failed"]},
    )
    yield hook
    db.execute("DELETE FROM webhook_endpoints WHERE id = %s", (hook["id"],))


def _sent(db, webhook: dict) -> list[dict]:
    rows = db.execute(
        "SELECT ev.body FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id"
        " WHERE d.endpoint_id = %s ORDER BY d.seq",
        (webhook["id"],),
    ).fetchall()
    return [json.loads(body) for (body,) in rows]


def test_a_structure_run_that_failed_for_good_is_a_structure_failed_event(db, pool, settings, tenant, webhook):
    course_id = course_with_structure(db, tenant.id)
    job = Job("0b0e7f1e-0000-4000-8000-000000000001", tenant.id, course_id, None, "generate_structure", {}, 2, 2)
    Structuring(pool, LlmRouter(settings, load_registry(), pool)).failed(
        job, "the language models could not produce the structure"
    )
    [event] = _sent(db, webhook)
    assert event["type"] == "structure.failed"
    assert event["data"] == {
        "course_id": course_id,
        "job_id": job.id,
        "origin": "run",
        "error": "the language models could not produce the structure",
    }


def test_a_grading_that_failed_for_good_is_a_submission_failed_event(db, tenant, webhook):
    course_id = course_with_structure(db, tenant.id, embeddings=False)
    exercise = exercise_ids(db, tenant.id, course_id)[0]
    submission_id, _ = submitted(db, tenant.id, course_id, exercise, student_id="s-9")
    assert submissions.record_failure(db, tenant.id, submission_id, "the language models could not grade the answer")
    assert not submissions.record_failure(db, tenant.id, submission_id, "again")  # told once
    [event] = _sent(db, webhook)
    assert event["type"] == "submission.failed"
    assert event["data"] == {
        "submission_id": submission_id,
        "course_id": course_id,
        "exercise_id": exercise,
        "student_id": "s-9",
        "job_id": None,
        "error": "the language models could not grade the answer",
    }
