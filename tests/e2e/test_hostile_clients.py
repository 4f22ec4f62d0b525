"""Clients that do not play by the rules, through the gateway of the session's stack: stalled
bodies, malformed and oversized requests. Every answer is JSON, from nginx or from gunicorn."""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import struct
import termios
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from devstack.processes import wait_until
from libs.platform.gunicorn_config import THREADS_BY_SERVICE, WORKERS_BY_SERVICE
from libs.platform.settings import Settings
from tests.conftest import UPLOAD_LIMIT

# Header and request line limits of the gateway (large_client_header_buffers 4 7k).
LINE_LIMIT = 7 * 1024


def gateway_port(stack) -> int:
    return stack.ports.gateway


def exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or goes quiet
    for ``timeout``)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # the server may answer and close before it has read everything (a refused body)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    return received


def parse(answer: bytes) -> tuple[int, dict[str, list[str]], dict]:
    """Status, headers (lower-case names, every value) and the JSON body of one answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    assert b"<html" not in answer.lower(), answer
    length = int(headers["content-length"][0])
    return int(status_line.split(" ")[1]), headers, json.loads(body[:length])


def assert_json_error(answer: bytes, status: int) -> dict[str, list[str]]:
    code, headers, body = parse(answer)
    assert code == status, answer
    assert headers["content-type"] == ["application/json"]
    assert body["title"] and body["description"]
    return headers


# ---- stalled bodies -----------------------------------------------------------------------


@contextlib.contextmanager
def stalled_bodies(port: int, key: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that announce a JSON body, send part of it, then wait."""
    body = b'{"title": "never finished", "description": "'
    head = (
        f"POST /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) + 1000}\r\n\r\n"
    ).encode()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(sock)
            sock.sendall(head + body)
        for sock in sockets:
            wait_until(lambda s=sock: _unacknowledged(s) == 0, timeout=5, what="the gateway to take the bytes")
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes sent on ``sock`` that its peer has not acknowledged yet (Linux' SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def test_stalled_json_bodies_do_not_hold_the_courses_service(stack, tenant, other_tenant):
    port = gateway_port(stack)
    others = {"X-API-Key": other_tenant.make_key().secret}
    url = f"{stack.gateway_url}/api/v1/courses"
    # twice the courses service's request threads, whatever this machine's core count made them
    threads = WORKERS_BY_SERVICE["courses"] * THREADS_BY_SERVICE["courses"]
    with stalled_bodies(port, tenant.make_key().secret, 2 * threads) as stalled, requests.Session() as http:
        # every byte sent was taken by the gateway's side: each stalled request is there
        for _ in range(3):
            started = time.monotonic()
            listed = http.get(url, headers=others, timeout=10)
            listed_in = time.monotonic() - started
            started = time.monotonic()
            created = http.post(url, json={"title": "still served"}, headers=others, timeout=10)
            created_in = time.monotonic() - started
            assert listed.status_code == 200 and created.status_code == 201, (listed.text, created.text)
            # far below the 20 s body timeout the stalled requests would hold a thread for,
            # with room for a loaded CI machine
            assert listed_in < 5 and created_in < 5, (listed_in, created_in)
        # the stalled requests are still waiting for their bodies, unanswered
        stalled[0].settimeout(0.2)
        with pytest.raises(TimeoutError):
            stalled[0].recv(1)


# ---- malformed and oversized requests: nginx refuses them, in JSON ---------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /api/v1/courses%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="nul-percent-encoded-in-path"),
        pytest.param(b"GET /api/v1/cour\x00ses HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="raw-nul-in-path"),
        pytest.param(b"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, id="nul-in-header"),
        pytest.param(b"GET\r\n\r\n", 400, id="request-line-with-method-only"),
        pytest.param(
            b"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, id="header-without-colon"
        ),
        pytest.param(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), 400, id="tls-handshake-on-plain-http"
        ),
        pytest.param(b"GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n", 501, id="unknown-method"),
        pytest.param(b"GARBAGE /api/v1/courses HTTP/1.1\r\nHost: x\r\n\r\n", 501, id="unknown-method-on-an-api-path"),
        pytest.param(b"AB /api/v1/courses HTTP/1.1\r\nHost: x\r\n\r\n", 501, id="method-gunicorn-would-refuse"),
        pytest.param(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, id="http-2-request-line"),
        pytest.param(
            b"GET /api/v1/courses?q=" + b"a" * LINE_LIMIT + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, id="long-request-line"
        ),
        pytest.param(
            b"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * LINE_LIMIT + b"\r\n\r\n",
            431,
            id="long-header-line",
        ),
        pytest.param(
            b"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: a\r\n" % i for i in range(5000))
            + b"\r\n",
            431,
            id="too-many-headers",
        ),
    ],
)
def test_malformed_or_oversized_request_is_refused_in_json(stack, request_bytes, status):
    assert_json_error(exchange(gateway_port(stack), request_bytes), status)


def test_http_0_9_request_gets_a_bare_json_body_as_0_9_has_no_status_line_or_headers(stack):
    answer = exchange(gateway_port(stack), b"GET /nowhere\r\n")
    assert json.loads(answer)["title"] == "Not found"


def test_connection_closed_before_a_request_line_gets_no_answer_at_all(stack):
    # Nothing to answer: HTTP has no response to a request never made, and nginx sends none.
    with socket.create_connection(("127.0.0.1", gateway_port(stack)), timeout=10) as sock:
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/courses",
        # the materials routes that take JSON: only the streamed form at the collection is uncapped
        f"/api/v1/courses/{uuid.UUID(int=1)}/materials/uploads",
        f"/api/v1/courses/{uuid.UUID(int=1)}/materials/{uuid.UUID(int=2)}",
    ],
)
def test_json_body_over_the_limit_is_refused_with_json_413_naming_that_limit(stack, tenant, path):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {tenant.make_key().secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {1024**2 + 1}\r\nConnection: close\r\n\r\n"
    )
    _, _, body = parse(exchange(gateway_port(stack), head.encode(), timeout=3))
    assert body["title"] == "Payload too large"
    # the gateway's cap is the services' own setting, rendered into it
    assert f"{Settings.max_json_bytes} bytes" in body["description"]


def test_upload_over_the_limit_is_refused_with_json_413_naming_that_limit(stack, tenant):
    key = tenant.make_key().secret
    course = requests.post(
        f"{stack.gateway_url}/api/v1/courses", json={"title": "Big"}, headers={"X-API-Key": key}, timeout=10
    ).json()["id"]
    head = (
        f"POST /api/v1/courses/{course}/materials HTTP/1.1\r\nHost: x\r\n"
        f"X-API-Key: {key}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {2 * 1024**3}\r\nConnection: close\r\n\r\n"
    )
    _, _, body = parse(exchange(gateway_port(stack), head.encode(), timeout=3))
    # refused by the uploads service from Content-Length: no nginx in front caps uploads, so a
    # raised MAX_UPLOAD_BYTES is never cut short by a limit written elsewhere
    assert body["title"] == "Payload too large"
    assert f"the upload limit is {UPLOAD_LIMIT} bytes" in body["description"]


def test_json_body_of_almost_one_mib_reaches_the_service(stack, tenant):
    key = {"X-API-Key": tenant.make_key().secret, "Content-Type": "application/json"}
    # a little under both caps: nginx's client_max_body_size 1m and the service's MAX_JSON_BYTES
    shell = json.dumps({"title": "big", "padding": ""}).encode()
    body = shell[:-2] + b"x" * (1024**2 - 1024 - len(shell)) + shell[-2:]
    assert 1024**2 - 1024 <= len(body) < 1024**2
    result = requests.post(f"{stack.gateway_url}/api/v1/courses", data=body, headers=key, timeout=10)
    # the service read the whole body: its own 422 names the unknown field at the body's end
    assert result.status_code == 422, result.text
    assert result.headers["Content-Type"].startswith("application/json")
    assert result.json()["errors"] == [{"field": "padding", "message": "unknown field"}]


# ---- what the gateway passes on, gunicorn takes ---------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET /api/v1/courses?q=" + b"a" * (LINE_LIMIT - 100) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            id="longest-request-line",
        ),
        pytest.param(
            b"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + b"1" * (LINE_LIMIT - 100) + b"\r\n\r\n",
            id="longest-header-line-that-nginx-appends-to",
        ),
        pytest.param(
            b"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(900)) + b"\r\n",
            # far past gunicorn's default of 100; nginx itself takes about 1000 such lines
            id="many-headers",
        ),
    ],
)
def test_request_at_the_gateways_limits_is_answered_by_the_service(stack, request_bytes):
    # no key: the courses service's own 401 shows the request got through gunicorn
    code, _, body = parse(
        exchange(gateway_port(stack), request_bytes.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
    )
    assert code == 401, body
    assert body["title"]


def test_gunicorn_itself_answers_json_when_reached_directly(stack):
    port = stack.ports.services["courses"]
    for request_bytes, status in (
        (b"AB / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n", 431),
    ):
        answer = exchange(port, request_bytes)
        assert_json_error(answer, status)
        assert b"aaaa" not in answer  # no echo of the request


# ---- 405 and Allow ---------------------------------------------------------------------------


def test_gateways_own_405_carries_allow(stack):
    headers = assert_json_error(
        exchange(
            gateway_port(stack),
            b"POST /health/gateway HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        405,
    )
    assert headers["allow"] == ["GET, HEAD"]
    headers = assert_json_error(
        exchange(gateway_port(stack), b"TRACE /api/v1/courses HTTP/1.1\r\nHost: x\r\n\r\n"), 405
    )
    assert len(headers["allow"]) == 1 and "GET" in headers["allow"][0]


def test_a_services_405_passes_with_its_own_allow_only(stack):
    answer = exchange(
        gateway_port(stack),
        b"PUT /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    code, headers, body = parse(answer)
    # the route refuses the method before any key is asked for, with the service's own Allow
    # (GET-only route, as falcon states it) and no second one added by the gateway
    assert code == 405, body
    assert headers["allow"] == ["GET, HEAD, OPTIONS"]
