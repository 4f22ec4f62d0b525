"""A webhook receiver on 127.0.0.1 over HTTPS, its certificate issued by a throw-away CA
(``trustme``) that the sender is told to trust: it keeps what it receives and answers what the
test queued (a status, or a stall past the sender's timeout)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import trustme

from tests.fakes.quiet_server import QuietHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Receiver:
    """``answers`` are taken in order, one per request (a number is a status; ``("stall",
    seconds)`` waits that long before a 200); once empty, every request gets 200."""

    def __init__(self, server: QuietHTTPServer, ca_file: Path) -> None:
        self._server = server
        self.ca_file = ca_file
        self.received: list[Received] = []
        self.answers: list[int | tuple[str, float]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://localhost:{self._server.server_address[1]}/hooks"

    def next_answer(self) -> int | tuple[str, float]:
        with self._lock:
            return self.answers.pop(0) if self.answers else 200

    def keep(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)


@contextmanager
def webhook_receiver(directory: Path) -> Iterator[Receiver]:
    ca = trustme.CA()
    ca_file = directory / "webhook-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.keep(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            answer = receiver.next_answer()
            if isinstance(answer, tuple):
                time.sleep(answer[1])
                answer = 200
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server, ca_file)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
