"""The model registry: models with prices and capabilities, and each action's model chains."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from libs.llm.providers import PROVIDERS

REGISTRY_FILE = Path(__file__).with_name("models.toml")
STRATEGIES = ("default", "quality", "budget")
# What a local server's model (OPENAI_MODEL, not in the registry) is assumed to take: servers
# are commonly started with 8-32k; the ArchitectAgent condenses materials to fit, so assuming
# too little costs summaries, assuming too much costs a refused request.
SERVED_MODEL_CONTEXT = 16_384
# Actions every registry must declare; the file may declare more (homework_check: the
# repository's models.toml has it, a test's registry need not).
ACTIONS = ("course_structuring", "text_processing", "embedding")
EMBEDDING_ACTION = "embedding"
CAPABILITIES = ("chat", "json_schema", "json_object", "embedding")
# concepts.embedding is vector(1536): every embedding model must produce this many dimensions.
EMBEDDING_DIMENSIONS = 1536
_MILLION = Decimal(1_000_000)
_MICRO = Decimal("0.000001")


class RegistryError(Exception):
    """The registry file is malformed; one line per problem, each naming the file's line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid model registry:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Model:
    """A model as a provider names it, with its prices in USD per million tokens."""

    name: str
    provider: str
    capabilities: frozenset[str]
    context_tokens: int
    price_in: Decimal
    price_out: Decimal
    dimensions: int | None = None  # embedding models that take a `dimensions` argument

    def cost(self, tokens_in: int, tokens_out: int) -> Decimal:
        """What ``tokens_in`` and ``tokens_out`` cost, rounded to the micro-dollar like
        ``llm_calls.cost_usd``."""
        return ((tokens_in * self.price_in + tokens_out * self.price_out) / _MILLION).quantize(_MICRO)


@dataclass(frozen=True)
class Registry:
    models: Mapping[str, Model]
    # (action, strategy) -> model names, in the order the router tries them
    chains: Mapping[tuple[str, str], tuple[str, ...]]

    def chain(self, action: str, strategy: str) -> tuple[Model, ...]:
        """The models of ``action``'s ``strategy``; empty when the action lacks it (the router
        then falls back to ``default``). An unknown action raises KeyError."""
        if (action, "default") not in self.chains:
            raise KeyError(f"unknown LLM action {action!r}")
        return tuple(self.models[name] for name in self.chains.get((action, strategy), ()))

    def with_served_model(self, name: str | None, *, embedding: bool = False) -> Registry:
        """This registry with ``name`` (OPENAI_MODEL) first in the default chain of every chat
        action: the model a local OpenAI-compatible server serves. With ``embedding``
        (OPENAI_EMBEDDING_MODEL) it becomes the embedding chain's only model, since vectors of
        different models must not meet in one column. A name the registry lists keeps its entry
        and prices; another becomes an ``openai`` model priced at 0."""
        if not name:
            return self
        models = dict(self.models)
        if name not in models:
            capabilities = ("embedding",) if embedding else ("chat", "json_schema")
            models[name] = Model(name, "openai", frozenset(capabilities), SERVED_MODEL_CONTEXT, Decimal(0), Decimal(0))
        chains = dict(self.chains)
        for (action, strategy), names in self.chains.items():
            if strategy == "default" and (action == EMBEDDING_ACTION) == embedding:
                chains[(action, strategy)] = (name,) if embedding else (name, *(n for n in names if n != name))
        return replace(self, models=models, chains=chains)


def load_registry(path: Path = REGISTRY_FILE) -> Registry:
    """Read and validate the registry file; raise :class:`RegistryError` naming every
    problem with its line."""
    return parse_registry(path.read_text(encoding="utf-8"), source=path.name)


def parse_registry(text: str, *, source: str = "models.toml") -> Registry:
    """Validate registry ``text`` (TOML) as a whole; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends with "(at line N, column M)"
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{source}:{found.group(1)}" if found else source
        raise RegistryError([f"{where}: not valid TOML: {str(exc).split(' (at line')[0]}"]) from None
    lines = _key_lines(text)
    problems: list[str] = []

    def problem(path: str, message: str) -> None:
        line = lines.get(path) or lines.get(path.rsplit(".", 1)[0])
        problems.append(f"{source}:{line}: {path}: {message}" if line else f"{source}: {path}: {message}")

    for key in data:
        if key not in ("models", "actions"):
            problem(key, "unknown section (expected models and actions)")
    models: dict[str, Model] = {}
    for name, entry in _table(data, "models", problem).items():
        model = _model(name, entry, lambda message, key=None, n=name: problem(_path("models", n, key), message))
        if model:
            models[name] = model
    chains: dict[tuple[str, str], tuple[str, ...]] = {}
    actions = _table(data, "actions", problem)
    for action in ACTIONS:
        if action not in actions:
            problem("actions", f"missing action {action}")
    for action, strategies in actions.items():
        where = _path("actions", action)
        if not isinstance(strategies, dict):
            problem(where, "must be a table of strategies")
            continue
        if "default" not in strategies:
            problem(where, "missing its default strategy")
        for strategy, names in strategies.items():
            at = _path("actions", action, strategy)
            if strategy not in STRATEGIES:
                problem(at, f"unknown strategy (expected one of {', '.join(STRATEGIES)})")
            elif not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                problem(at, "must be a non-empty list of model names")
            else:
                for name in names:
                    _check_chain_model(action, name, models, data, lambda message, at=at: problem(at, message))
                chains[(action, strategy)] = tuple(names)
    if problems:
        raise RegistryError(problems)
    return Registry(models=models, chains=chains)


def _model(name: str, entry: Any, problem: Any) -> Model | None:
    if not isinstance(entry, dict):
        problem("must be a table")
        return None
    ok = True

    def bad(message: str, key: str | None = None) -> None:
        nonlocal ok
        ok = False
        problem(message, key)

    for key in entry:
        if key not in ("provider", "capabilities", "context_tokens", "price_in", "price_out", "dimensions"):
            bad("unknown field", key)
    provider = entry.get("provider")
    if provider not in PROVIDERS:
        bad(f"must be one of {', '.join(PROVIDERS)}", "provider")
    capabilities = entry.get("capabilities")
    if not isinstance(capabilities, list) or not capabilities or any(c not in CAPABILITIES for c in capabilities):
        bad(f"must be a non-empty list of {', '.join(CAPABILITIES)}", "capabilities")
    elif "embedding" in capabilities and provider == "anthropic":
        bad("anthropic has no embeddings endpoint", "capabilities")
    context = entry.get("context_tokens")
    if not isinstance(context, int) or isinstance(context, bool) or context < 1:
        bad("must be a whole number of tokens above 0", "context_tokens")
    prices = {}
    for key in ("price_in", "price_out"):
        value = entry.get(key)
        if not isinstance(value, int | Decimal) or isinstance(value, bool) or value < 0:
            bad("must be a number of USD per million tokens, 0 or more", key)
        else:
            prices[key] = Decimal(value)
    dimensions = entry.get("dimensions")
    if dimensions is not None and dimensions != EMBEDDING_DIMENSIONS:
        bad(f"must be {EMBEDDING_DIMENSIONS}, the size of concepts.embedding", "dimensions")
    if not ok:
        return None
    return Model(name, provider, frozenset(capabilities), context, prices["price_in"], prices["price_out"], dimensions)


def _check_chain_model(action: str, name: str, models: dict[str, Model], data: dict, problem: Any) -> None:
    if name not in models:
        if name not in data.get("models", {}):
            problem(f"{name} is not a model of this file")
        return  # a model with its own problems was named already
    needed = "embedding" if action == EMBEDDING_ACTION else "chat"
    if needed not in models[name].capabilities:
        problem(f"{name} lacks the {needed} capability")


def _table(data: dict, key: str, problem: Any) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problem(key, "must be a table")
        return {}
    if not value:
        problem(key, "missing")
    return value


def _path(*parts: str | None) -> str:
    return ".".join(part for part in parts if part is not None)


_HEADER = re.compile(r"^\s*\[([^\[\]]+)\]\s*(?:#.*)?$")
_KEY = re.compile(r'^\s*("[^"]*"|[A-Za-z0-9_-]+)\s*=')


def _key_lines(text: str) -> dict[str, int]:
    """Line numbers of ``[table]`` headers and ``key =`` lines by dotted path, so errors in a
    well-formed file can name where to look (tomllib keeps no positions)."""
    lines: dict[str, int] = {}
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _HEADER.match(line):
            table = [part.strip().strip('"') for part in re.findall(r'"[^"]*"|[^.]+', header.group(1))]
            lines.setdefault(".".join(table), number)
        elif key := _KEY.match(line):
            lines.setdefault(".".join([*table, key.group(1).strip('"')]), number)
    return lines
