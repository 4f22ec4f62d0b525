"""What the LLM layer raises: no provider configured, a provider's failure, a whole chain's."""

from __future__ import annotations

from dataclasses import dataclass


class LlmError(Exception):
    """Base of the LLM layer's errors."""


class NoProviderConfigured(LlmError):
    """No LLM provider has a key or URL; the message names the variables to set."""

    def __init__(self, variables: tuple[str, ...]) -> None:
        self.variables = variables
        super().__init__(f"no LLM provider is configured: set at least one of {', '.join(variables)}")


class ProviderError(LlmError):
    """One request to a provider failed. ``retryable`` for timeouts, connection errors, 429
    and 5xx; ``retry_after`` in seconds when the provider said how long to wait."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Failure:
    """Why one model of a chain failed (its last error)."""

    strategy: str
    provider: str
    model: str
    error: str

    def __str__(self) -> str:
        return f"{self.model} ({self.provider}, {self.strategy}): {self.error}"


class AllModelsFailed(LlmError):
    """Every model of the chain (and of the default chain it fell back to) failed."""

    def __init__(self, action: str, failures: list[Failure]) -> None:
        self.action = action
        self.failures = failures
        listed = "\n".join(f"  {failure}" for failure in failures) or "  (no model in the chain)"
        super().__init__(f"every model failed for {action}:\n{listed}")
