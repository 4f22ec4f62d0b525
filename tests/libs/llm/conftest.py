"""Fixtures for the LLM layer: fake OpenAI and Anthropic servers, settings pointing at them,
a small registry, and the llm_calls rows of the test's tenant."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from libs.llm.registry import Registry, parse_registry
from libs.llm.router import LlmRouter
from libs.platform.settings import Settings
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

# A registry of its own, so the tests do not move when models.toml changes its chains.
REGISTRY = """
[models.gpt-4o]
provider = "openai"
capabilities = ["chat", "json_schema"]
context_tokens = 128000
price_in = 2.50
price_out = 10.00

[models.gpt-4o-mini]
provider = "openai"
capabilities = ["chat", "json_schema"]
context_tokens = 128000
price_in = 0.15
price_out = 0.60

[models.claude-sonnet-4-6]
provider = "anthropic"
capabilities = ["chat", "json_schema"]
context_tokens = 200000
price_in = 3.00
price_out = 15.00

[models."gemini-2.5-flash"]
provider = "gemini"
capabilities = ["chat", "json_schema"]
context_tokens = 1048576
price_in = 0.30
price_out = 2.50

[models.deepseek-chat]
provider = "deepseek"
capabilities = ["chat", "json_object"]
context_tokens = 128000
price_in = 0.28
price_out = 0.42

[models.text-embedding-3-small]
provider = "openai"
capabilities = ["embedding"]
context_tokens = 8191
price_in = 0.02
price_out = 0
dimensions = 1536

[actions.course_structuring]
default = ["claude-sonnet-4-6", "gemini-2.5-flash", "gpt-4o"]
quality = ["gpt-4o-mini"]
budget = ["deepseek-chat", "gpt-4o-mini"]

[actions.text_processing]
default = ["gpt-4o-mini"]

[actions.embedding]
default = ["text-embedding-3-small"]
"""

SCHEMA = {
    "title": "lesson",
    "type": "object",
    "properties": {"title": {"type": "string"}, "minutes": {"type": "integer"}},
    "required": ["title", "minutes"],
    "additionalProperties": False,
}
VALID = {"title": "Recursion", "minutes": 12}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def registry() -> Registry:
    return parse_registry(REGISTRY, source="test.toml")


@pytest.fixture
def llm_settings(settings: Settings, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Settings:
    """OpenAI and Anthropic on the fakes; Gemini and DeepSeek unconfigured (their URLs are
    fixed and public, so a test must never enable them)."""
    return dataclasses.replace(
        settings,
        openai_api_key="sk-test",
        openai_base_url=fake_openai.base_url,
        openai_model=None,
        openai_embedding_model=None,
        anthropic_api_key="sk-ant-test",
        anthropic_base_url=fake_anthropic.base_url,
        gemini_api_key=None,
        deepseek_api_key=None,
        llm_timeout_seconds=10,
        llm_max_attempts=3,
    )


RouterFactory = Callable[..., LlmRouter]


@pytest.fixture
def make_router(llm_settings: Settings, registry: Registry, pool: ConnectionPool) -> RouterFactory:
    """``make_router(**settings_changes)``: a router on the fakes; backoff without Retry-After
    is 10 ms so retried 5xx cost no time."""

    def make(**changes: object) -> LlmRouter:
        return LlmRouter(dataclasses.replace(llm_settings, **changes), registry, pool, backoff_seconds=0.01)

    return make


@pytest.fixture
def calls(db: psycopg.Connection, tenant) -> Callable[[], list[dict]]:
    """The tenant's llm_calls rows, oldest first."""

    def rows() -> list[dict]:
        cursor = db.execute(
            """SELECT action, strategy, provider, model, success, tokens_in, tokens_out, cost_usd, error,
                      job_id, latency_ms, prompt_version
                 FROM llm_calls WHERE tenant_id = %s ORDER BY id""",
            (tenant.id,),
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    return rows
