"""GET /api/v1/usage: this month's LLM spend against the budget, by action, and the requests
the tenant made by scope; another tenant's figures are never in it."""

from __future__ import annotations

from decimal import Decimal

from libs.llm import budget


def _call(db, tenant_id: str, action: str, usd: str) -> None:
    db.execute(
        "INSERT INTO llm_calls (tenant_id, action, strategy, provider, model, cost_usd, success)"
        " VALUES (%s, %s, 'default', 'openai', 'gpt-4o-mini', %s, true)",
        (tenant_id, action, Decimal(usd)),
    )


def test_usage_shows_the_months_spend_by_action_against_the_budget(client, db, tenant, other_tenant):
    budget.set_limit(db, tenant.id, Decimal("10.00"))
    _call(db, tenant.id, "course_structuring", "1.50")
    _call(db, tenant.id, "course_structuring", "0.50")
    _call(db, tenant.id, "homework_check", "0.25")
    _call(db, other_tenant.id, "homework_check", "99")
    usage = client.simulate_get("/api/v1/usage", headers={"X-API-Key": tenant.make_key().secret}).json
    llm = usage["llm"]
    assert (llm["limit_usd"], llm["spent_usd"], llm["remaining_usd"]) == (10.0, 2.25, 7.75)
    assert llm["by_action"] == [
        {"action": "course_structuring", "calls": 2, "cost_usd": 2.0},
        {"action": "homework_check", "calls": 1, "cost_usd": 0.25},
    ]
    assert usage["month"] == llm["resets_at"][:7] or usage["month"] < llm["resets_at"][:7]


def test_no_budget_shows_null_limit_and_remaining(client, db, tenant):
    llm = client.simulate_get("/api/v1/usage", headers={"X-API-Key": tenant.make_key().secret}).json["llm"]
    assert (llm["limit_usd"], llm["remaining_usd"], llm["spent_usd"]) == (None, None, 0.0)


def test_requests_are_counted_by_scope_and_refusals_apart(client, tenant):
    prep = {"X-API-Key": tenant.make_key(("prep",), rate_prep=3).secret}
    answers = [client.simulate_get("/api/v1/courses", headers=prep).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    check = {"X-API-Key": tenant.make_key(("check",)).secret}
    usage = client.simulate_get("/api/v1/usage", headers=check).json
    assert usage["requests_counted"] is True
    assert usage["requests"] == {"prep": {"requests": 3, "limited": 1}, "check": {"requests": 1, "limited": 0}}
