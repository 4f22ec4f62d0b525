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


# A route answers (status, JSON body).
Route = Callable[[Request], tuple[int, Any]]


def error(status: int, message: str, kind: str = "invalid_request_error") -> tuple[int, Any]:
    """An answer in OpenAI's error shape."""
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}


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
        status, payload = answer(request) if answer else error(404, f"no route {method} {handler.path}")
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
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
