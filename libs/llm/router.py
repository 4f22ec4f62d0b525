"""The router: an action's model chain tried in order, with retries, repair and a logged call each."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import jsonschema
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from libs.llm import budget, calls
from libs.llm.errors import AllModelsFailed, Failure, NoProviderConfigured, ProviderError
from libs.llm.providers import (
    CONFIGURATION_VARIABLES,
    PROVIDER_VARIABLES,
    OpenAICompatible,
    build_adapters,
)
from libs.llm.registry import EMBEDDING_ACTION, EMBEDDING_DIMENSIONS, STRATEGIES, Model, Registry
from libs.platform.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Texts per embeddings request: well under OpenAI's 2048 inputs, and small enough that one
# failed request wastes little.
EMBED_BATCH = 256
_REPAIR = (
    "Your previous answer could not be used: {problem}. Answer again with only the JSON the "
    "schema describes, nothing else."
)


@dataclass(frozen=True)
class Result:
    """A validated structured answer. Tokens and cost add up every request this completion
    made (failed attempts and the repair included): what it cost the tenant."""

    data: Any
    model: str
    provider: str
    strategy: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal


@dataclass(frozen=True)
class Embeddings:
    """One vector of EMBEDDING_DIMENSIONS floats per text, in the texts' order."""

    vectors: list[list[float]]
    model: str
    provider: str
    tokens_in: int
    cost_usd: Decimal


class _ModelFailed(Exception):
    """This model is done for; the message says why (the router moves to the next one)."""


@dataclass
class _Context:
    tenant_id: str | None
    job_id: str | None
    action: str
    prompt_version: str | None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)


class LlmRouter:
    """Routes an action's requests along its model chains (see ``libs/llm/models.toml``).

    ``sleep``, ``backoff_seconds`` and ``max_wait_seconds`` shape retries: a retryable error
    waits the provider's Retry-After, or ``backoff_seconds`` doubled per attempt; a provider
    asking for more than ``max_wait_seconds`` counts as that model's failure instead.
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        pool: ConnectionPool,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 60.0,
    ) -> None:
        self.registry = registry.with_served_model(settings.openai_model).with_served_model(
            settings.openai_embedding_model, embedding=True
        )
        self.adapters = build_adapters(settings)
        self.pool = pool
        self.monthly_budget_usd = settings.llm_monthly_budget_usd
        self.max_attempts = settings.llm_max_attempts
        self.sleep = sleep
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds

    def complete_json(
        self,
        *,
        tenant_id: str | None,
        job_id: str | None,
        action: str,
        schema: dict,
        messages: Sequence[dict[str, str]] | None = None,
        system: str | None = None,
        user: str | None = None,
        strategy: str = "default",
        prompt_version: str | None = None,
        max_tokens: int = 4096,
    ) -> Result:
        """Ask ``action``'s chain for JSON valid against ``schema``, given ``messages``
        (``{"role", "content"}``, OpenAI style) or ``system`` + ``user``. Raises
        :class:`NoProviderConfigured` with no provider at all, :class:`AllModelsFailed`
        listing every model's failure when none answered validly."""
        if messages is None:
            if user is None:
                raise ValueError("give messages, or user (and system)")
            messages = [*([{"role": "system", "content": system}] if system else []), {"role": "user", "content": user}]
        elif system is not None or user is not None:
            raise ValueError("give messages, or system and user, not both")
        if action == EMBEDDING_ACTION:
            raise ValueError("the embedding action goes through embed()")
        self._require_budget(tenant_id)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)  # a broken schema is the caller's bug, not a model's
        validator = validator_class(schema)
        name = _schema_name(schema)
        context = _Context(tenant_id, job_id, action, prompt_version)

        def attempt(model: Model, adapter: Any, chain: str) -> Result:
            conversation = list(messages)
            mode = "json_schema" if "json_schema" in model.capabilities else "json_object"
            for repair in (False, True):
                reply, latency = self._with_retries(
                    context,
                    model,
                    chain,
                    lambda conversation=conversation: adapter.complete(
                        model=model.name,
                        messages=conversation,
                        schema=schema,
                        schema_name=name,
                        mode=mode,
                        max_tokens=max_tokens,
                    ),
                )
                data, problem = _parse(reply.text, validator)
                self._record(context, model, chain, reply.tokens_in, reply.tokens_out, latency, problem)
                if problem is None:
                    return Result(
                        data, model.name, model.provider, chain, context.tokens_in, context.tokens_out, context.cost_usd
                    )
                if repair:
                    raise _ModelFailed(f"{problem} (after a repair attempt)")
                conversation += [
                    {"role": "assistant", "content": reply.text or "(empty)"},
                    {"role": "user", "content": _REPAIR.format(problem=problem)},
                ]
            raise AssertionError("unreachable")

        return self._route(action, strategy, attempt)

    def embed(
        self,
        *,
        tenant_id: str | None,
        job_id: str | None,
        texts: Sequence[str],
        strategy: str = "default",
        prompt_version: str | None = None,
    ) -> Embeddings:
        """Embed ``texts`` through the ``embedding`` action's chain (OpenAI-compatible
        ``/embeddings``); every vector comes from one model, or the model failed."""
        self._require_budget(tenant_id)
        context = _Context(tenant_id, job_id, EMBEDDING_ACTION, prompt_version)

        def attempt(model: Model, adapter: Any, chain: str) -> Embeddings:
            if not isinstance(adapter, OpenAICompatible):
                raise _ModelFailed(f"{model.provider} has no embeddings endpoint")
            vectors: list[list[float]] = []
            for start in range(0, len(texts), EMBED_BATCH):
                batch = list(texts[start : start + EMBED_BATCH])
                (found, tokens), latency = self._with_retries(
                    context,
                    model,
                    chain,
                    lambda batch=batch: adapter.embed(model=model.name, texts=batch, dimensions=model.dimensions),
                )
                problem = None
                if len(found) != len(batch):
                    problem = f"{len(found)} vectors for {len(batch)} texts"
                elif any(len(vector) != EMBEDDING_DIMENSIONS for vector in found):
                    problem = f"vectors of {len(found[0])} dimensions, not {EMBEDDING_DIMENSIONS}"
                self._record(context, model, chain, tokens, 0, latency, problem)
                if problem:
                    raise _ModelFailed(problem)
                vectors += found
            return Embeddings(vectors, model.name, model.provider, context.tokens_in, context.cost_usd)

        return self._route(EMBEDDING_ACTION, strategy, attempt)

    # --- the chain, retries and the call log --------------------------------------------------

    def _require_budget(self, tenant_id: str | None) -> None:
        """:class:`BudgetExceeded` once the tenant's spend this month reached its limit: checked
        before every call, so a job that passes its budget stops after the call that did."""
        if tenant_id is None:
            return
        try:
            with self.pool.connection() as conn:
                budget.require_room(conn, tenant_id, self.monthly_budget_usd)
        except (psycopg.Error, PoolTimeout) as exc:  # every call is still recorded and counted
            log.warning("could not read the LLM budget of tenant %s, calling anyway: %s", tenant_id, exc)

    def _route(self, action: str, strategy: str, attempt: Callable[[Model, Any, str], T]) -> T:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
        if not self.adapters:
            raise NoProviderConfigured(CONFIGURATION_VARIABLES)
        failures: list[Failure] = []
        tried: set[str] = set()
        # a failed quality or budget chain falls back to default, skipping models already tried
        for chain in dict.fromkeys((strategy, "default")):
            for model in self.registry.chain(action, chain):
                if model.name in tried:
                    continue
                tried.add(model.name)
                adapter = self.adapters.get(model.provider)
                if adapter is None:
                    reason = f"not configured (set {PROVIDER_VARIABLES[model.provider]})"
                    failures.append(Failure(chain, model.provider, model.name, reason))
                    continue
                try:
                    return attempt(model, adapter, chain)
                except _ModelFailed as exc:
                    failures.append(Failure(chain, model.provider, model.name, str(exc)))
        raise AllModelsFailed(action, failures)

    def _with_retries(self, context: _Context, model: Model, chain: str, request: Callable[[], T]) -> tuple[T, int]:
        """``request()`` and its latency in ms; retryable errors are tried again up to
        LLM_MAX_ATTEMPTS times, each failed attempt logged."""
        for number in range(1, self.max_attempts + 1):
            started = time.monotonic()
            try:
                return request(), _ms_since(started)
            except ProviderError as exc:
                self._record(context, model, chain, 0, 0, _ms_since(started), str(exc))
                if not exc.retryable:
                    raise _ModelFailed(str(exc)) from exc
                if number == self.max_attempts:
                    raise _ModelFailed(f"{exc} (after {number} attempts)") from exc
                # jitter spreads the retries of workers that failed together; not cryptographic
                wait = exc.retry_after
                if wait is None:
                    wait = self.backoff_seconds * 2 ** (number - 1) * random.uniform(1, 1.25)  # noqa: S311
                if wait > self.max_wait_seconds:
                    raise _ModelFailed(f"{exc} (asked to wait {wait:.0f} s)") from exc
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _record(
        self,
        context: _Context,
        model: Model,
        chain: str,
        tokens_in: int,
        tokens_out: int,
        latency_ms: int,
        error: str | None,
    ) -> None:
        cost = model.cost(tokens_in, tokens_out)
        context.tokens_in += tokens_in
        context.tokens_out += tokens_out
        context.cost_usd += cost
        call = calls.Call(
            tenant_id=context.tenant_id,
            job_id=context.job_id,
            action=context.action,
            strategy=chain,
            provider=model.provider,
            model=model.name,
            prompt_version=context.prompt_version,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            cost_usd=cost,
            success=error is None,
            error=error,
        )
        log.info(
            "llm call %s/%s %s %s: %s",
            call.action,
            call.strategy,
            call.model,
            call.prompt_version or "-",
            error or "ok",
            extra={"tenant": call.tenant_id, "latency_ms": latency_ms},
        )
        try:
            with self.pool.connection() as conn:
                calls.record(conn, call)
        except psycopg.Error:
            # the answer is paid for already: losing its log line beats failing the job for it
            log.exception("could not record an LLM call in llm_calls")


def _parse(text: str, validator: Any) -> tuple[Any, str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        return None, f"does not match the schema at {error.json_path}: {error.message[:300]}"
    return data, None


def _schema_name(schema: dict) -> str:
    # both APIs want a name of letters, digits, _ and -
    title = "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in str(schema.get("title", "")))[:64]
    return title or "result"


def _ms_since(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
