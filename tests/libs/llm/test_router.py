"""The router against local OpenAI and Anthropic servers, through the real client libraries;
each behaviour proven by the llm_calls rows it leaves for the test's tenant."""

from __future__ import annotations

import dataclasses
import json
import time
from decimal import Decimal

import pytest

from libs.jobs import queue
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.providers import any_provider_configured
from libs.llm.registry import EMBEDDING_DIMENSIONS
from tests.fakes import anthropic_server
from tests.fakes.anthropic_server import MESSAGES, FakeAnthropic, tool_use
from tests.fakes.openai_server import FakeOpenAI, by_model, chat_completion, embeddings, error, script
from tests.libs.llm.conftest import SCHEMA, VALID

CHAT = "/v1/chat/completions"
USER = "Outline the lesson on recursion."


def test_fallback_from_a_failing_first_model_to_the_second_logs_both_with_cost(
    make_router, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, calls, tenant, db
):
    # Claude answers off-schema twice (the repair too); gemini is unconfigured; gpt-4o answers.
    fake_anthropic.route(
        "POST", MESSAGES, script(tool_use({"title": 7, "minutes": 3}, name="lesson", tokens_in=1000, tokens_out=200))
    )
    fake_openai.route("POST", CHAT, script(chat_completion(json.dumps(VALID), tokens_in=2000, tokens_out=500)))
    job_id = queue.enqueue(db, tenant.id, "generate_structure", max_attempts=1)

    result = make_router().complete_json(
        tenant_id=tenant.id,
        job_id=job_id,
        action="course_structuring",
        prompt_version="structure-v1",
        system="You design courses.",
        user=USER,
        schema=SCHEMA,
    )

    assert (result.data, result.provider, result.model, result.strategy) == (VALID, "openai", "gpt-4o", "default")
    rows = calls()
    assert [(r["provider"], r["model"], r["success"]) for r in rows] == [
        ("anthropic", "claude-sonnet-4-6", False),
        ("anthropic", "claude-sonnet-4-6", False),
        ("openai", "gpt-4o", True),
    ]
    # 1000 x $3 + 200 x $15 per million; 2000 x $2.50 + 500 x $10 per million
    assert [(r["tokens_in"], r["tokens_out"], r["cost_usd"]) for r in rows] == [
        (1000, 200, Decimal("0.006")),
        (1000, 200, Decimal("0.006")),
        (2000, 500, Decimal("0.01")),
    ]
    assert all("does not match the schema at $.title" in r["error"] for r in rows[:2])
    assert rows[2]["error"] is None
    assert {(r["action"], r["prompt_version"]) for r in rows} == {("course_structuring", "structure-v1")}
    assert {str(r["job_id"]) for r in rows} == {job_id}
    assert (result.tokens_in, result.tokens_out, result.cost_usd) == (4000, 900, Decimal("0.022"))
    # the wire formats: a forced tool whose input_schema is the schema; a json_schema response_format
    sent = fake_anthropic.requests[0].json
    assert sent["tools"] == [{"name": "lesson", "description": sent["tools"][0]["description"], "input_schema": SCHEMA}]
    assert sent["tool_choice"] == {"type": "tool", "name": "lesson"}
    assert sent["system"] == "You design courses."
    assert sent["messages"] == [{"role": "user", "content": USER}]
    assert fake_openai.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "lesson", "schema": SCHEMA, "strict": False},
    }


def test_a_429_is_retried_after_its_retry_after_then_succeeds(make_router, fake_openai: FakeOpenAI, calls, tenant):
    fake_openai.route(
        "POST",
        CHAT,
        script(
            error(429, "Rate limit reached", "rate_limit_error", headers={"Retry-After": "1"}),
            chat_completion(json.dumps(VALID), model="gpt-4o-mini", tokens_in=100, tokens_out=20),
        ),
    )
    started = time.monotonic()

    result = make_router().complete_json(
        tenant_id=tenant.id, job_id=None, action="text_processing", user=USER, schema=SCHEMA
    )

    assert time.monotonic() - started >= 0.95  # waited the second the provider asked for
    assert result.data == VALID
    rows = calls()
    assert [(r["model"], r["success"], r["tokens_in"], r["tokens_out"]) for r in rows] == [
        ("gpt-4o-mini", False, 0, 0),
        ("gpt-4o-mini", True, 100, 20),
    ]
    assert rows[0]["error"] == "HTTP 429: Rate limit reached"
    assert rows[0]["cost_usd"] == 0
    assert rows[1]["cost_usd"] == Decimal("0.000027")  # 100 x $0.15 + 20 x $0.60 per million


def test_invalid_json_is_repaired(make_router, fake_openai: FakeOpenAI, calls, tenant):
    fake_openai.route(
        "POST",
        CHAT,
        script(
            chat_completion('{"title": "Recursion", "minutes": ', tokens_in=100, tokens_out=10),
            chat_completion(json.dumps(VALID), tokens_in=150, tokens_out=20),
        ),
    )

    result = make_router().complete_json(
        tenant_id=tenant.id, job_id=None, action="text_processing", user=USER, schema=SCHEMA
    )

    assert result.data == VALID
    rows = calls()
    assert [(r["success"], r["tokens_in"], r["tokens_out"]) for r in rows] == [(False, 100, 10), (True, 150, 20)]
    assert rows[0]["error"].startswith("not valid JSON")
    assert rows[0]["cost_usd"] > 0
    # the repair request shows the model its own answer and what was wrong with it
    repair = fake_openai.requests[1].json["messages"]
    assert repair[0] == {"role": "user", "content": USER}
    assert repair[1] == {"role": "assistant", "content": '{"title": "Recursion", "minutes": '}
    assert repair[2]["role"] == "user" and "not valid JSON" in repair[2]["content"]


def test_a_failed_strategy_falls_back_to_default(
    make_router, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, calls, tenant
):
    # quality's only model keeps failing with 500; default's first model answers
    fake_openai.route("POST", CHAT, script(error(500, "The server had an error", "server_error")))
    fake_anthropic.route("POST", MESSAGES, script(tool_use(VALID, name="lesson", tokens_in=300, tokens_out=40)))

    result = make_router().complete_json(
        tenant_id=tenant.id, job_id=None, action="course_structuring", strategy="quality", user=USER, schema=SCHEMA
    )

    assert (result.data, result.model, result.strategy) == (VALID, "claude-sonnet-4-6", "default")
    rows = calls()
    assert [(r["strategy"], r["model"], r["success"]) for r in rows] == [
        ("quality", "gpt-4o-mini", False),
        ("quality", "gpt-4o-mini", False),
        ("quality", "gpt-4o-mini", False),  # LLM_MAX_ATTEMPTS tries of a retryable error
        ("default", "claude-sonnet-4-6", True),
    ]
    assert rows[0]["error"] == "HTTP 500: The server had an error"
    assert rows[3]["cost_usd"] == Decimal("0.0015")  # 300 x $3 + 40 x $15 per million


def test_unconfigured_providers_are_skipped(
    make_router, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, calls, tenant
):
    # no Anthropic key: claude-sonnet-4-6 and gemini-2.5-flash are skipped, gpt-4o answers
    fake_openai.route("POST", CHAT, script(chat_completion(json.dumps(VALID), tokens_in=10, tokens_out=5)))

    result = make_router(anthropic_api_key=None).complete_json(
        tenant_id=tenant.id, job_id=None, action="course_structuring", user=USER, schema=SCHEMA
    )

    assert result.model == "gpt-4o"
    assert fake_anthropic.requests == []
    assert [(r["provider"], r["model"], r["success"]) for r in calls()] == [("openai", "gpt-4o", True)]


def test_a_chain_where_every_model_fails_raises_one_error_listing_all(
    make_router, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, calls, tenant
):
    fake_anthropic.route("POST", MESSAGES, script(anthropic_server.error(529, "Overloaded", "overloaded_error")))
    fake_openai.route("POST", CHAT, script(error(400, "Invalid schema for response_format")))

    with pytest.raises(AllModelsFailed) as caught:
        make_router().complete_json(
            tenant_id=tenant.id, job_id=None, action="course_structuring", user=USER, schema=SCHEMA
        )

    failures = [(f.provider, f.model, f.error) for f in caught.value.failures]
    assert failures == [
        ("anthropic", "claude-sonnet-4-6", "HTTP 529: Overloaded (after 3 attempts)"),
        ("gemini", "gemini-2.5-flash", "not configured (set GEMINI_API_KEY)"),
        ("openai", "gpt-4o", "HTTP 400: Invalid schema for response_format"),  # not retryable: one try
    ]
    message = str(caught.value)
    assert all(model in message for model in ("claude-sonnet-4-6", "gemini-2.5-flash", "gpt-4o"))
    rows = calls()
    assert [(r["model"], r["success"]) for r in rows] == [("claude-sonnet-4-6", False)] * 3 + [("gpt-4o", False)]


def test_no_provider_configured_names_the_variables(make_router, llm_settings, fake_openai: FakeOpenAI, calls, tenant):
    nothing = {"openai_api_key": None, "openai_base_url": None, "anthropic_api_key": None}
    assert not any_provider_configured(dataclasses.replace(llm_settings, **nothing))
    with pytest.raises(NoProviderConfigured) as caught:
        make_router(**nothing).complete_json(
            tenant_id=tenant.id, job_id=None, action="text_processing", user=USER, schema=SCHEMA
        )
    assert "OPENAI_API_KEY" in str(caught.value) and "ANTHROPIC_API_KEY" in str(caught.value)
    assert calls() == []
    # a local server's URL alone enables the openai provider; OpenAI's own URL needs a key
    assert any_provider_configured(
        dataclasses.replace(llm_settings, **{**nothing, "openai_base_url": "http://127.0.0.1:1/v1"})
    )
    official = {**nothing, "openai_base_url": "https://api.openai.com/v1"}
    assert not any_provider_configured(dataclasses.replace(llm_settings, **official))


def test_a_local_servers_openai_model_goes_first_in_every_default_chain(
    make_router, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, calls, tenant
):
    fake_openai.route(
        "POST", CHAT, by_model({"llama3.1:8b": script(chat_completion(json.dumps(VALID), tokens_in=50, tokens_out=9))})
    )

    result = make_router(openai_api_key=None, openai_model="llama3.1:8b").complete_json(
        tenant_id=tenant.id, job_id=None, action="course_structuring", user=USER, schema=SCHEMA
    )

    assert (result.provider, result.model, result.cost_usd) == ("openai", "llama3.1:8b", 0)
    assert fake_anthropic.requests == []
    assert fake_openai.requests[0].headers["authorization"] == "Bearer not-needed"
    assert [(r["model"], r["success"], r["tokens_in"], r["cost_usd"]) for r in calls()] == [
        ("llama3.1:8b", True, 50, 0)
    ]


def test_embeddings_come_from_the_embedding_chain_with_their_cost(make_router, fake_openai: FakeOpenAI, calls, tenant):
    vectors = [[0.1] * EMBEDDING_DIMENSIONS, [0.2] * EMBEDDING_DIMENSIONS]
    fake_openai.route("POST", "/v1/embeddings", script(embeddings(vectors, tokens_in=1_000_000)))

    result = make_router().embed(tenant_id=tenant.id, job_id=None, texts=["recursion", "iteration"])

    assert result.vectors == vectors
    assert (result.model, result.tokens_in, result.cost_usd) == ("text-embedding-3-small", 1_000_000, Decimal("0.02"))
    sent = fake_openai.requests[0].json
    assert (sent["input"], sent["dimensions"]) == (["recursion", "iteration"], EMBEDDING_DIMENSIONS)
    assert [(r["action"], r["model"], r["success"], r["cost_usd"]) for r in calls()] == [
        ("embedding", "text-embedding-3-small", True, Decimal("0.02"))
    ]


def test_embeddings_of_the_wrong_size_fail_the_model(make_router, fake_openai: FakeOpenAI, calls, tenant):
    fake_openai.route("POST", "/v1/embeddings", script(embeddings([[0.1] * 768], tokens_in=3)))

    with pytest.raises(AllModelsFailed, match="768 dimensions"):
        make_router().embed(tenant_id=tenant.id, job_id=None, texts=["recursion"])

    assert [(r["success"], r["tokens_in"]) for r in calls()] == [(False, 3)]


def test_json_mode_models_get_the_schema_in_a_system_message(fake_openai: FakeOpenAI):
    # DeepSeek's API has no json_schema response_format: the adapter asks for JSON mode instead
    import openai

    from libs.llm.providers import OpenAICompatible

    fake_openai.route("POST", CHAT, script(chat_completion(json.dumps(VALID))))
    adapter = OpenAICompatible(openai.OpenAI(api_key="k", base_url=fake_openai.base_url, max_retries=0, timeout=10))

    reply = adapter.complete(
        model="deepseek-chat",
        messages=[{"role": "user", "content": USER}],
        schema=SCHEMA,
        schema_name="lesson",
        mode="json_object",
        max_tokens=100,
    )

    assert json.loads(reply.text) == VALID
    sent = fake_openai.requests[0].json
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][0]["role"] == "system" and json.dumps(SCHEMA) in sent["messages"][0]["content"]


def test_a_router_without_a_chain_for_the_strategy_uses_default(make_router, fake_openai: FakeOpenAI, calls, tenant):
    # text_processing declares only default
    fake_openai.route("POST", CHAT, script(chat_completion(json.dumps(VALID))))

    result = make_router().complete_json(
        tenant_id=tenant.id, job_id=None, action="text_processing", strategy="budget", user=USER, schema=SCHEMA
    )

    assert (result.model, result.strategy) == ("gpt-4o-mini", "default")
