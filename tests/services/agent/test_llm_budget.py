"""The LLM budget at the agent's doors: a run, a refine or a submission the tenant's spend
this month has passed is 402 before anything is queued, and a run whose estimated cost passes
the per-run limit is 402 with the estimate. Jobs stop with the budget's own words."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from libs.jobs import queue
from libs.llm import budget
from libs.llm.registry import load_registry
from libs.llm.router import LlmRouter
from libs.store import courses
from services.agent import documents
from services.agent.architect.estimate import estimate_run
from services.agent.check.job import GradeSubmission
from services.agent.documents import Chunk
from tests.conftest import held_material
from tests.services.agent.check_helpers import course_with_structure, exercise_ids, submitted


@pytest.fixture
def priced_settings(settings):
    """An OpenAI key (the registry's priced models; nothing is called at this layer)."""
    return dataclasses.replace(
        settings, openai_api_key="sk-test", openai_base_url="http://127.0.0.1:9/v1", openai_model=None
    )


@pytest.fixture
def agent(make_client, priced_settings):
    return make_client("agent", settings=priced_settings)


def _spend_it_all(db, tenant_id: str) -> None:
    budget.set_limit(db, tenant_id, Decimal("2.00"))
    db.execute(
        "INSERT INTO llm_calls (tenant_id, action, strategy, provider, model, cost_usd, success)"
        " VALUES (%s, 'course_structuring', 'default', 'openai', 'gpt-4o', 2.00, true)",
        (tenant_id,),
    )


def _done_course(db, tenant_id: str, characters: int) -> str:
    course = str(courses.create(db, tenant_id, {"title": "Big"})["id"])
    material = held_material(db, tenant_id, course, status="done")
    piece = "A lecture transcript sentence about loops. " * 100
    chunks = [Chunk("paragraph", piece, {}) for _ in range(characters // len(piece))]
    documents.replace(db, tenant_id, material, chunks)
    return course


def _jobs(db, tenant_id: str) -> int:
    return db.execute("SELECT count(*) FROM jobs WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]


def test_a_run_past_the_months_budget_is_402_with_the_figures(agent, prep, db, tenant):
    course = _done_course(db, tenant.id, 10_000)
    _spend_it_all(db, tenant.id)
    before = _jobs(db, tenant.id)
    refused = agent.simulate_post(f"/api/v1/courses/{course}/structure", headers=prep, json={})
    assert refused.status_code == 402, refused.text
    assert (refused.json["spent_usd"], refused.json["limit_usd"]) == (2.0, 2.0)
    assert refused.json["resets_at"]
    assert "budget is spent" in refused.json["description"]
    assert _jobs(db, tenant.id) == before


def test_a_refine_past_the_months_budget_is_402(agent, prep, db, tenant):
    course = course_with_structure(db, tenant.id, embeddings=False)
    held_material(db, tenant.id, course, status="done")
    _spend_it_all(db, tenant.id)
    refused = agent.simulate_post(
        f"/api/v1/courses/{course}/structure/refine", headers=prep, json={"instructions": "Shorter titles."}
    )
    assert refused.status_code == 402, refused.text


def test_a_submission_past_the_months_budget_is_402_and_not_kept(agent, db, tenant):
    course = course_with_structure(db, tenant.id, embeddings=False)
    exercise = exercise_ids(db, tenant.id, course)[0]
    _spend_it_all(db, tenant.id)
    refused = agent.simulate_post(
        f"/api/v1/courses/{course}/exercises/{exercise}/submissions",
        headers={"X-API-Key": tenant.make_key(("check",)).secret},
        json={"student_id": "s", "answer": "x = 1"},
    )
    assert refused.status_code == 402, refused.text
    assert db.execute("SELECT count(*) FROM submissions WHERE tenant_id = %s", (tenant.id,)).fetchone()[0] == 0


def test_a_run_whose_estimate_passes_the_per_run_limit_is_402_with_the_estimate(
    make_client, priced_settings, prep, db, tenant
):
    agent = make_client("agent", settings=dataclasses.replace(priced_settings, llm_run_limit_usd=Decimal("0.50")))
    course = _done_course(db, tenant.id, 3_000_000)  # about a million tokens
    refused = agent.simulate_post(f"/api/v1/courses/{course}/structure", headers=prep, json={})
    assert refused.status_code == 402, refused.text
    assert refused.json["run_limit_usd"] == 0.5
    assert refused.json["estimated_cost_usd"] > 0.5
    assert refused.json["estimated_calls"] > 1  # the transcript is condensed first
    assert "LLM_RUN_LIMIT_USD" in refused.json["description"]


def test_a_small_run_is_within_the_default_per_run_limit(agent, prep, db, tenant):
    course = _done_course(db, tenant.id, 20_000)
    assert agent.simulate_post(f"/api/v1/courses/{course}/structure", headers=prep, json={}).status_code == 202


def test_the_estimate_of_a_43_mb_transcript_is_hundreds_of_calls_and_a_few_dollars(priced_settings, pool):
    router = LlmRouter(priced_settings, load_registry(), pool)
    estimate = estimate_run(router, [43_000_000], strategy="default")
    # measured: $1.25 in about 700 calls; the estimate errs high (3 characters a token, full summaries)
    assert 700 <= estimate.calls <= 1200
    assert Decimal("1.25") <= estimate.cost_usd <= Decimal("6")
    small = estimate_run(router, [20_000], strategy="default")
    assert small.calls == 1 and small.cost_usd < Decimal("0.2")


def test_a_grading_job_of_a_tenant_past_its_budget_fails_in_plain_words(settings, pool, db, tenant):
    course = course_with_structure(db, tenant.id, embeddings=False)
    submission_id, job_id = submitted(
        db, tenant.id, course, exercise_ids(db, tenant.id, course)[0], job_delay_seconds=3600
    )
    _spend_it_all(db, tenant.id)
    job = queue.Job(job_id, tenant.id, course, None, "grade_submission", {"submission_id": submission_id}, 1, 3)
    with pytest.raises(queue.Permanent) as stopped:
        GradeSubmission(pool, LlmRouter(settings, load_registry(), pool))(job, lambda stage, percent: None)
    assert str(stopped.value).startswith("not graded: This month's LLM budget is spent ($2.00 of $2.00)")
