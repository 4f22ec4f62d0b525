import pytest


def log_call(
    db, tenant_id, *, action, provider, model, tokens_in, tokens_out, cost, success=True, at="2026-11-20 12:00+00"
):
    db.execute(
        "INSERT INTO llm_calls (tenant_id, action, strategy, provider, model, tokens_in, tokens_out, "
        "latency_ms, cost_usd, success, created_at) VALUES (%s, %s, 'default', %s, %s, %s, %s, 100, %s, %s, %s)",
        (tenant_id, action, provider, model, tokens_in, tokens_out, cost, success, at),
    )


@pytest.fixture
def spend(db, tenant):
    tenant_id = tenant.id
    log_call(
        db,
        tenant_id,
        action="structure",
        provider="openai",
        model="gpt-x",
        tokens_in=1000,
        tokens_out=500,
        cost="0.030000",
    )
    log_call(
        db,
        tenant_id,
        action="structure",
        provider="anthropic",
        model="claude-y",
        tokens_in=2000,
        tokens_out=1000,
        cost="0.090000",
        success=False,
        at="2026-11-22 08:00+00",
    )
    log_call(
        db,
        tenant_id,
        action="embed",
        provider="openai",
        model="emb-z",
        tokens_in=300,
        tokens_out=0,
        cost="0.000300",
        at="2026-10-01 00:00+00",
    )
    return tenant_id


def test_report_totals_and_breakdowns(client, prep, spend):
    report = client.simulate_get("/api/v1/reports/cost", headers=prep).json
    assert report["totals"] == {
        "calls": 3,
        "tokens_in": 3300,
        "tokens_out": 1500,
        "cost_usd": 0.1203,
        "success_rate": 0.6667,
    }
    assert [(a["action"], a["calls"]) for a in report["by_action"]] == [("structure", 2), ("embed", 1)]
    assert {p["provider"]: p["cost_usd"] for p in report["by_provider"]} == {"anthropic": 0.09, "openai": 0.0303}
    assert {m["model"] for m in report["by_model"]} == {"gpt-x", "claude-y", "emb-z"}


def test_report_filters_by_inclusive_dates(client, prep, spend):
    report = client.simulate_get(
        "/api/v1/reports/cost", headers=prep, params={"from": "2026-11-20", "to": "2026-11-20"}
    ).json
    assert report["totals"]["calls"] == 1 and report["totals"]["cost_usd"] == 0.03


def test_report_is_per_tenant(client, spend, other_tenant):
    headers = {"X-API-Key": other_tenant.make_key(("check",)).secret}
    report = client.simulate_get("/api/v1/reports/cost", headers=headers).json
    assert report["totals"]["calls"] == 0 and report["by_model"] == []


@pytest.mark.parametrize("params", [{"from": "yesterday"}, {"to": "2026-13-01"}])
def test_bad_dates_are_422(client, prep, params):
    result = client.simulate_get("/api/v1/reports/cost", headers=prep, params=params)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] in params


def test_from_after_to_is_an_empty_period(client, prep, spend):
    # every pair of valid days is a valid request (the document can say no more); this one has no days
    params = {"from": "2026-11-21", "to": "2026-11-19"}
    report = client.simulate_get("/api/v1/reports/cost", headers=prep, params=params).json
    assert report["totals"]["calls"] == 0 and report["by_action"] == []
