"""A tenant's monthly LLM budget: this calendar month's spend against its own limit or the
setting's, refused (402) once spent, before any model is called, and checked again before
each call so a job that passes it stops after the call that did."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from libs.errors import BudgetExceeded
from libs.llm import budget
from tests.fakes.openai_server import FakeOpenAI, chat_completion, script
from tests.libs.llm.conftest import SCHEMA, VALID

CHAT = "/v1/chat/completions"


def _spent(db, tenant_id: str, usd: str, *, last_month: bool = False) -> None:
    db.execute(
        "INSERT INTO llm_calls (tenant_id, action, strategy, provider, model, cost_usd, success, created_at)"
        " VALUES (%s, 'course_structuring', 'default', 'openai', 'gpt-4o', %s, true,"
        " CASE WHEN %s THEN date_trunc('month', now()) - interval '1 second' ELSE now() END)",
        (tenant_id, Decimal(usd), last_month),
    )


def test_the_spend_is_this_months_calls_and_resets_on_the_first(db, tenant):
    _spent(db, tenant.id, "1.25")
    _spent(db, tenant.id, "0.50")
    _spent(db, tenant.id, "9.00", last_month=True)
    state = budget.of(db, tenant.id, Decimal(0))
    assert state.spent_usd == Decimal("1.75")
    now = datetime.now(UTC)
    first_of_next = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert state.resets_at == first_of_next


def test_a_tenants_own_budget_wins_over_the_default_and_zero_is_none(db, tenant):
    assert budget.of(db, tenant.id, Decimal("20")).limit_usd == Decimal("20")
    budget.set_limit(db, tenant.id, Decimal("5.50"))
    assert budget.of(db, tenant.id, Decimal("20")).limit_usd == Decimal("5.50")
    budget.set_limit(db, tenant.id, Decimal(0))
    assert budget.of(db, tenant.id, Decimal("20")).limit_usd is None
    budget.set_limit(db, tenant.id, None)
    assert budget.of(db, tenant.id, Decimal("20")).limit_usd == Decimal("20")


def test_a_spent_budget_is_refused_with_the_spend_the_limit_and_the_reset(db, tenant):
    budget.set_limit(db, tenant.id, Decimal("1.00"))
    _spent(db, tenant.id, "1.00")
    with pytest.raises(BudgetExceeded) as refused:
        budget.require_room(db, tenant.id, Decimal(0))
    assert refused.value.details["spent_usd"] == 1.0
    assert refused.value.details["limit_usd"] == 1.0
    assert refused.value.details["resets_at"].endswith("+00:00")
    assert "$1.00 of $1.00" in refused.value.description


def test_no_model_is_called_once_the_budget_is_spent(make_router, fake_openai: FakeOpenAI, db, tenant):
    budget.set_limit(db, tenant.id, Decimal("0.50"))
    _spent(db, tenant.id, "0.60")
    with pytest.raises(BudgetExceeded):
        make_router().complete_json(
            tenant_id=tenant.id, job_id=None, action="text_processing", user="Summarise.", schema=SCHEMA
        )
    assert fake_openai.requests == []


def test_a_job_passing_its_budget_stops_after_the_call_that_did(make_router, fake_openai: FakeOpenAI, db, tenant):
    budget.set_limit(db, tenant.id, Decimal("0.01"))
    # one call of gpt-4o-mini at 0.15/0.60 per million: 100k tokens in costs $0.015
    fake_openai.route("POST", CHAT, script(chat_completion(json.dumps(VALID), model="gpt-4o-mini", tokens_in=100_000)))
    router = make_router()

    def ask() -> object:
        return router.complete_json(
            tenant_id=tenant.id, job_id=None, action="text_processing", user="Summarise.", schema=SCHEMA
        )

    assert ask().data == VALID  # within the budget when it started: it finishes
    with pytest.raises(BudgetExceeded):
        ask()
    assert len(fake_openai.requests) == 1
