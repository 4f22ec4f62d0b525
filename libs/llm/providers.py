"""Provider adapters: one per wire format (OpenAI-compatible, Anthropic), built from settings."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from libs.errors import Unavailable
from libs.llm.errors import NoProviderConfigured, ProviderError
from libs.platform.settings import Settings

if TYPE_CHECKING:
    import anthropic
    import openai

PROVIDERS = ("openai", "anthropic", "gemini", "deepseek")
# Any one of these enables the LLM layer (NoProviderConfigured names them).
CONFIGURATION_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "DEEPSEEK_API_KEY",
)
# What an operator sets to enable each provider (named when a chain skips one).
PROVIDER_VARIABLES = {
    "openai": "OPENAI_API_KEY or OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}
OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
DEEPSEEK_URL = "https://api.deepseek.com"
# Statuses worth another attempt: timeouts, conflicts the provider resolves, rate limits,
# server errors (Anthropic's 529 "overloaded" among them).
_RETRYABLE = {408, 409, 429}


@dataclass(frozen=True)
class Reply:
    """A model's answer as JSON text (Anthropic's tool input re-serialised), with its usage."""

    text: str
    tokens_in: int
    tokens_out: int


class ChatAdapter(Protocol):
    def complete(
        self, *, model: str, messages: list[dict[str, str]], schema: dict, schema_name: str, mode: str, max_tokens: int
    ) -> Reply:
        """Ask ``model`` for JSON matching ``schema``; raise ProviderError on failure."""
        ...


Client = TypeVar("Client")


class _Lazy(Generic[Client]):
    """A client built on first use. The client libraries are the heaviest imports of the
    project (openai and anthropic: ~60 MiB and ~1.5 s together), and most processes that may
    call a model never do: a process imports them when it makes its first call."""

    def __init__(self, client: Client | Callable[[], Client]) -> None:
        self._client = client
        self._building = threading.Lock()

    def get(self) -> Client:
        if callable(self._client):  # a factory (a client object is not callable)
            with self._building:
                if callable(self._client):
                    self._client = self._client()
        return self._client  # type: ignore[return-value]


class OpenAICompatible:
    """Chat completions and embeddings over OpenAI's wire format (OpenAI, Gemini, DeepSeek,
    a local server). ``mode`` json_schema sends the schema as ``response_format``; json_object
    (JSON mode only) puts it in a system message instead."""

    def __init__(self, client: openai.OpenAI | Callable[[], openai.OpenAI]) -> None:
        self._client = _Lazy(client)

    @property
    def client(self) -> openai.OpenAI:
        return self._client.get()

    def complete(
        self, *, model: str, messages: list[dict[str, str]], schema: dict, schema_name: str, mode: str, max_tokens: int
    ) -> Reply:
        if mode == "json_schema":
            # strict is off: it demands a restricted schema dialect; the router validates anyway
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": False},
            }
        else:
            response_format = {"type": "json_object"}
            messages = [{"role": "system", "content": schema_instruction(schema)}, *messages]
        with _translated("openai"):
            response = self.client.chat.completions.create(
                model=model, messages=messages, response_format=response_format, max_tokens=max_tokens
            )
        usage = response.usage
        content = response.choices[0].message.content if response.choices else None
        return Reply(content or "", _count(usage, "prompt_tokens"), _count(usage, "completion_tokens"))

    def embed(self, *, model: str, texts: list[str], dimensions: int | None) -> tuple[list[list[float]], int]:
        """Vectors for ``texts`` in their order, and the tokens read."""
        extra = {"dimensions": dimensions} if dimensions else {}
        with _translated("openai"):
            response = self.client.embeddings.create(model=model, input=texts, encoding_format="float", **extra)
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        return vectors, _count(response.usage, "prompt_tokens")


class AnthropicMessages:
    """Anthropic's Messages API: the schema is the ``input_schema`` of a tool the model must
    call, and the tool call's input is the answer."""

    def __init__(self, client: anthropic.Anthropic | Callable[[], anthropic.Anthropic]) -> None:
        self._client = _Lazy(client)

    @property
    def client(self) -> anthropic.Anthropic:
        return self._client.get()

    def complete(
        self, *, model: str, messages: list[dict[str, str]], schema: dict, schema_name: str, mode: str, max_tokens: int
    ) -> Reply:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        conversation = [m for m in messages if m["role"] != "system"]
        tool = {"name": schema_name, "description": "Give the answer as this tool's input.", "input_schema": schema}
        with _translated("anthropic"):
            response = self.client.messages.create(
                model=model,
                max_tokens=max_tokens,
                messages=conversation,
                tools=[tool],
                tool_choice={"type": "tool", "name": schema_name},
                **({"system": system} if system else {}),
            )
        usage = response.usage
        tokens = _count(usage, "input_tokens"), _count(usage, "output_tokens")
        for block in response.content:
            if block.type == "tool_use":
                return Reply(json.dumps(block.input), *tokens)
        # no tool call (e.g. cut short by max_tokens): the text, for the repair attempt to see
        return Reply("".join(getattr(block, "text", "") for block in response.content), *tokens)


def schema_instruction(schema: dict) -> str:
    """The system message that carries the schema to a model without schema-bound output."""
    return "Answer with one JSON object, and nothing else, that matches this JSON Schema:\n" + json.dumps(schema)


def openai_is_configured(settings: Settings) -> bool:
    """OpenAI itself needs a key; a server at another OPENAI_BASE_URL (vLLM, Ollama, …) may not."""
    if settings.openai_api_key:
        return True
    host = urlsplit(settings.openai_base_url).hostname if settings.openai_base_url else None
    return bool(host) and host != "api.openai.com"


def any_provider_configured(settings: Settings) -> bool:
    """Whether any LLM provider has a key or URL (the structure endpoint answers 503 without)."""
    return openai_is_configured(settings) or any(
        (settings.anthropic_api_key, settings.gemini_api_key, settings.deepseek_api_key)
    )


def require_a_provider(settings: Settings) -> None:
    """Unavailable (503), naming the variables to set, when no LLM provider is configured."""
    if not any_provider_configured(settings):
        message = str(NoProviderConfigured(CONFIGURATION_VARIABLES))
        raise Unavailable(message[0].upper() + message[1:] + ".")


def build_adapters(settings: Settings) -> dict[str, OpenAICompatible | AnthropicMessages]:
    """An adapter per configured provider. The clients never retry (``max_retries=0``): the
    router owns retries, so it can log each attempt and honour Retry-After once."""
    timeout = float(settings.llm_timeout_seconds)
    adapters: dict[str, OpenAICompatible | AnthropicMessages] = {}

    def openai_client(key: str, url: str) -> Callable[[], openai.OpenAI]:
        return lambda: importlib.import_module("openai").OpenAI(
            api_key=key, base_url=url, timeout=timeout, max_retries=0
        )

    if openai_is_configured(settings):
        # a local server takes any key; the client insists on one
        adapters["openai"] = OpenAICompatible(
            openai_client(settings.openai_api_key or "not-needed", settings.openai_base_url or OPENAI_URL)
        )
    for name, key, url in (
        ("gemini", settings.gemini_api_key, GEMINI_URL),
        ("deepseek", settings.deepseek_api_key, DEEPSEEK_URL),
    ):
        if key:
            adapters[name] = OpenAICompatible(openai_client(key, url))
    if settings.anthropic_api_key:
        anthropic_key, anthropic_url = settings.anthropic_api_key, settings.anthropic_base_url or ANTHROPIC_URL
        adapters["anthropic"] = AnthropicMessages(
            lambda: importlib.import_module("anthropic").Anthropic(
                api_key=anthropic_key, base_url=anthropic_url, timeout=timeout, max_retries=0
            )
        )
    return adapters


class _translated:
    """Turns either client library's exceptions into ProviderError (retryable or not)."""

    def __init__(self, library: str) -> None:
        self.library = library  # a module name: imported by now, since its client made the call

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, _tb: object) -> bool:
        if exc is None:
            return False
        lib = importlib.import_module(self.library)
        if isinstance(exc, lib.APITimeoutError):
            raise ProviderError("timed out", retryable=True) from exc
        if isinstance(exc, lib.APIConnectionError):
            raise ProviderError(f"connection failed: {exc}", retryable=True) from exc
        if isinstance(exc, lib.APIStatusError):
            status = exc.status_code
            retryable = status in _RETRYABLE or status >= 500
            wait = _retry_after(exc.response.headers) if retryable else None
            raise ProviderError(f"HTTP {status}: {_detail(exc)}", retryable=retryable, retry_after=wait) from exc
        if isinstance(exc, lib.APIError):  # an answer the client could not read
            raise ProviderError(f"unreadable answer: {exc}", retryable=False) from exc
        return False


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        raw = headers.get("retry-after")
        if not raw:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]


def _count(usage: Any, field: str) -> int:
    # local servers may omit usage, or a field of it
    value = getattr(usage, field, None) if usage is not None else None
    return value if isinstance(value, int) and value >= 0 else 0
