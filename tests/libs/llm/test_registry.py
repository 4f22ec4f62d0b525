"""The model registry: the repository's file is valid, and every problem names its line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.llm.registry import EMBEDDING_DIMENSIONS, RegistryError, load_registry, parse_registry
from tests.libs.llm.conftest import REGISTRY


def problems(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, source="test.toml")
    return caught.value.problems


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_the_repositorys_registry_is_valid_and_covers_every_action_and_provider():
    registry = load_registry()
    for action in ("course_structuring", "text_processing"):
        for strategy in ("default", "quality", "budget"):
            assert registry.chain(action, strategy), (action, strategy)
    assert {model.provider for model in registry.models.values()} == {"openai", "anthropic", "gemini", "deepseek"}
    (embedding,) = registry.chain("embedding", "default")
    assert (embedding.name, embedding.dimensions) == ("text-embedding-3-small", EMBEDDING_DIMENSIONS)


def test_cost_is_tokens_times_the_price_per_million():
    model = parse_registry(REGISTRY).models["gpt-4o"]
    assert model.cost(1_000_000, 0) == Decimal("2.5")
    assert model.cost(1234, 567) == Decimal("0.008755")  # 1234 x 2.50 + 567 x 10.00, per million


def test_a_toml_syntax_error_names_its_line():
    text = REGISTRY.replace("price_out = 0.60", "price_out = = 0.60")
    (found,) = problems(text)
    assert found.startswith(f"test.toml:{line_of(text, '= = 0.60')}: not valid TOML")


EMBEDDING_CHAIN = 'default = ["gpt-4o"]'


def test_semantic_errors_name_the_line_of_the_offending_key():
    text = (
        REGISTRY.replace('provider = "deepseek"', 'provider = "mistral"')
        .replace("price_in = 0.15", "price_in = -1")
        .replace('quality = ["gpt-4o-mini"]', 'quality = ["gpt-5-turbo"]')
        .replace('default = ["text-embedding-3-small"]', EMBEDDING_CHAIN)
    )
    found = problems(text)
    assert found == [
        f"test.toml:{line_of(text, 'price_in = -1')}: models.gpt-4o-mini.price_in: "
        "must be a number of USD per million tokens, 0 or more",
        f"test.toml:{line_of(text, 'mistral')}: models.deepseek-chat.provider: "
        "must be one of openai, anthropic, gemini, deepseek",
        f"test.toml:{line_of(text, 'gpt-5-turbo')}: actions.course_structuring.quality: "
        "gpt-5-turbo is not a model of this file",
        f"test.toml:{line_of(text, EMBEDDING_CHAIN)}: actions.embedding.default: gpt-4o lacks the embedding capability",
    ]


def test_a_missing_default_strategy_and_action_are_named():
    text = REGISTRY.replace('[actions.text_processing]\ndefault = ["gpt-4o-mini"]', "[actions.text_processing]")
    text = text.replace("[actions.embedding]", "[actions.embeddings]")
    found = problems(text)
    assert any(p.endswith("actions: missing action embedding") for p in found)
    where = line_of(text, "[actions.text_processing]")
    assert f"test.toml:{where}: actions.text_processing: missing its default strategy" in found


def test_a_served_model_goes_first_in_default_chains_and_alone_in_embedding():
    registry = parse_registry(REGISTRY).with_served_model("llama3.1:8b").with_served_model("nomic", embedding=True)
    assert [m.name for m in registry.chain("course_structuring", "default")][:2] == ["llama3.1:8b", "claude-sonnet-4-6"]
    assert [m.name for m in registry.chain("course_structuring", "quality")] == ["gpt-4o-mini"]
    assert [m.name for m in registry.chain("embedding", "default")] == ["nomic"]
    assert registry.models["llama3.1:8b"].provider == "openai"
    assert registry.models["llama3.1:8b"].cost(10**6, 10**6) == 0
