"""A local stand-in for Anthropic's Messages API on 127.0.0.1: the real client talks to it."""

from __future__ import annotations

from typing import Any

from tests.fakes.openai_server import Answer, FakeOpenAI

MESSAGES = "/v1/messages"


class FakeAnthropic(FakeOpenAI):
    """The same recording server as :class:`FakeOpenAI`; routes are set for
    ``POST /v1/messages``. Its :attr:`base_url` has no ``/v1``, as the anthropic client
    (and ANTHROPIC_BASE_URL) expects."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeAnthropic:
        super().__enter__()
        return self


def tool_use(
    data: Any, *, name: str = "result", model: str = "claude-sonnet-4-6", tokens_in: int = 0, tokens_out: int = 0
) -> Answer:
    """A message whose one content block calls tool ``name`` with ``data`` as its input."""
    return 200, {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "tool_use", "id": "toolu_fake", "name": name, "input": data}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
    }


def error(status: int, message: str, kind: str = "api_error", headers: dict[str, str] | None = None) -> Answer:
    """An answer in Anthropic's error shape (``rate_limit_error``, ``overloaded_error``, …)."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return (status, body, headers) if headers else (status, body)
