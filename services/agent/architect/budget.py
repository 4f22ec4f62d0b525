"""Token budgets: a conservative estimator, and how much a request may hold for a model chain."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from libs.llm.registry import Model, Registry

# No tokenizer is installed (and tiktoken knows only OpenAI's): three ASCII characters per token
# overestimates English (about four) and code, and one token per other character overestimates
# Cyrillic and CJK, so an estimate is never below what a provider counts.
ASCII_CHARS_PER_TOKEN = 3
# Role markers and separators a provider adds around each message.
MESSAGE_OVERHEAD = 8
# What a provider wraps around the schema: Anthropic's tool-use system prompt, OpenAI's
# response_format framing.
PROVIDER_OVERHEAD = 600
# The router's repair attempt resends the conversation with the model's reply (at most
# max_tokens) and a short complaint appended, so a request must leave room for both.
REPAIR_OVERHEAD = 200
# A served model the registry does not list (OPENAI_MODEL) has no known window: assume a
# modest one rather than none.
UNKNOWN_CONTEXT_TOKENS = 32_768


def estimate_tokens(text: str) -> int:
    """An upper estimate of the tokens ``text`` costs with any provider's tokenizer."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return -(-ascii_chars // ASCII_CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def request_tokens(messages: Iterable[str], schema: dict[str, Any]) -> int:
    """The estimated input of a request: its messages' contents and the schema sent with them."""
    return sum(estimate_tokens(m) + MESSAGE_OVERHEAD for m in messages) + estimate_tokens(json.dumps(schema))


@dataclass(frozen=True)
class Budget:
    """The smallest context window among the models a request may reach, and the output
    reserved in it."""

    model: str
    context_tokens: int
    max_tokens: int

    @property
    def input_tokens(self) -> int:
        """What the messages and the schema together may take (estimated)."""
        return self.context_tokens - 2 * self.max_tokens - REPAIR_OVERHEAD - PROVIDER_OVERHEAD


def reachable_models(
    registries: Sequence[Registry], action: str, strategy: str, providers: Iterable[str] | None
) -> list[Model]:
    """Every model the router may try for ``action``: the strategy's chain, then default's
    (where a failed quality or budget chain falls back), only of configured ``providers``
    (all when None or when none is configured: the router then refuses anyway)."""
    configured = set(providers or ())
    models: dict[str, Model] = {}
    for registry in registries:
        for chain in dict.fromkeys((strategy, "default")):
            for model in registry.chain(action, chain):
                models.setdefault(model.name, model)
    usable = [m for m in models.values() if m.provider in configured]
    return usable or list(models.values())


def budget_for(models: Sequence[Model], *, max_output: int, output_share: int) -> Budget:
    """The budget of the smallest window among ``models``: the router may fall back to any of
    them, so the request must fit each. Output is ``max_output`` tokens, or a
    1/``output_share`` of a smaller window."""
    if not models:
        raise ValueError("no model to budget for")
    smallest = min(models, key=lambda m: m.context_tokens if m.context_tokens > 0 else UNKNOWN_CONTEXT_TOKENS)
    context = smallest.context_tokens if smallest.context_tokens > 0 else UNKNOWN_CONTEXT_TOKENS
    return Budget(smallest.name, context, max(1, min(max_output, context // output_share)))
