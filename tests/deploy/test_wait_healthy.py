"""deploy/wait-healthy.sh, the deploy workflow's health check: the guide's 10 attempts 5 s apart,
then a failed job."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.deploy.tools import REPO, Result, run
from tests.fakes.quiet_server import QuietHTTPServer

SCRIPT = REPO / "deploy" / "wait-healthy.sh"


class Health:
    """A /health that answers 503 ``failures`` times, then 200; counts the requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                health.requests += 1
                status = 503 if health.requests <= health.failures else 200
                body = b'{"status": "%s"}' % (b"degraded" if status == 503 else b"ok")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"


@pytest.fixture
def health() -> Iterator[callable]:
    servers: list[Health] = []

    def start(failures: int) -> Health:
        server = Health(failures)
        threading.Thread(target=server.server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.shutdown()
        server.server.server_close()


def wait(url: str, **overrides: str) -> Result:
    return run(["bash", SCRIPT, url], env={**os.environ, **overrides})


def test_gives_up_after_ten_attempts_with_a_failed_exit(health) -> None:
    server = health(failures=1000)
    result = wait(server.url, INTERVAL="0")
    assert result.returncode == 1, result.output
    assert server.requests == 10 + 1  # ten attempts, then the last answer is printed
    assert "did not answer 200 after 10 attempts" in result.output


def test_waits_five_seconds_between_attempts(health) -> None:
    server = health(failures=1000)
    started = time.monotonic()
    result = wait(server.url, ATTEMPTS="2")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.output
    assert 5 <= elapsed < 8


def test_passes_once_the_stack_answers_200(health) -> None:
    server = health(failures=2)
    result = wait(server.url, INTERVAL="0")
    assert result.returncode == 0, result.output
    assert 'healthy at attempt 3/10: {"status": "ok"}' in result.output
