"""A local stand-in for the OpenAI HTTP API on 127.0.0.1: the real client talks to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.quiet_server import QuietHTTPServer


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Request:
    """One request as the server received it: header names in lower case, JSON bodies in
    ``json``, multipart forms in ``form`` (every value of a field, e.g.
    ``timestamp_granularities[]``) and ``files``."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)


# A route answers (status, JSON body) or (status, JSON body, extra headers).
Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Route = Callable[[Request], Answer]


def error(
    status: int, message: str, kind: str = "invalid_request_error", headers: dict[str, str] | None = None
) -> Answer:
    """An answer in OpenAI's error shape; ``headers`` e.g. ``{"Retry-After": "1"}``."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return (status, body, headers) if headers else (status, body)


def chat_completion(content: str | None, *, model: str = "gpt-4o", tokens_in: int = 0, tokens_out: int = 0) -> Answer:
    """A chat completion whose one choice says ``content``, with its usage."""
    return 200, {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }


def embeddings(vectors: list[list[float]], *, model: str = "text-embedding-3-small", tokens_in: int = 0) -> Answer:
    """An embeddings answer: one item per vector, in order."""
    return 200, {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": tokens_in, "total_tokens": tokens_in},
    }


def script(*answers: Answer) -> Route:
    """A route that gives ``answers`` in order, one per request; the last one repeats."""
    remaining = list(answers)
    lock = threading.Lock()

    def answer(_request: Request) -> Answer:
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return answer


def by_model(routes: dict[str, Route]) -> Route:
    """A route that hands each request to the route of the ``model`` its JSON body names
    (404 in OpenAI's shape for another model), so one server can play several models."""

    def answer(request: Request) -> Answer:
        model = (request.json or {}).get("model")
        route = routes.get(model)
        return route(request) if route else error(404, f"The model `{model}` does not exist", "not_found_error")

    return answer


class FakeOpenAI:
    """Serves the routes a test sets (``server.route("POST", "/v1/audio/transcriptions",
    answer)``) and records every request in ``requests``; unknown routes answer 404.
    Use as a context manager; point the client at :attr:`base_url`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: dict[tuple[str, str], Route] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def log_message(self, *args: object) -> None:
                pass

        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def route(self, method: str, path: str, answer: Route) -> None:
        """Answer ``method path`` (e.g. ``/v1/chat/completions``) with ``answer``."""
        self._routes[(method, path)] = answer

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        body = _read_body(handler)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        request = Request(method, handler.path, headers, body)
        content_type = handler.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and body:
            request.json = json.loads(body)
        elif content_type.startswith("multipart/form-data"):
            request.form, request.files = _multipart(content_type, body)
        with self._lock:
            self.requests.append(request)
        answer = self._routes.get((method, handler.path.split("?")[0]))
        status, payload, *more = answer(request) if answer else error(404, f"no route {method} {handler.path}")
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for name, value in (more[0] if more else {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = bytearray()
        while size := int(handler.rfile.readline().split(b";")[0], 16):
            body += handler.rfile.read(size)
            handler.rfile.readline()
        while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return bytes(body)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, Upload]]:
    form: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    delimiter = b"--" + _header("Content-Type", content_type).get_param("boundary").encode()
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {
            key.strip().lower(): value.strip()
            for key, _, value in (line.partition(":") for line in head.decode().split("\r\n") if line)
        }
        disposition = _header("Content-Disposition", headers.get("content-disposition", ""))
        name = disposition.get_param("name", header="content-disposition")
        filename = disposition.get_filename()
        if filename is None:
            form.setdefault(name, []).append(data.decode())
        else:
            files[name] = Upload(filename, headers.get("content-type"), data)
    return form, files


def _header(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message
