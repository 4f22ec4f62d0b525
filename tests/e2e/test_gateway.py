"""The operator's flows through the nginx gateway of the session's stack."""

import signal
import socket
import subprocess
import sys
import uuid

import pytest
import requests

from libs.platform.settings import SERVICES


@pytest.fixture
def gateway(stack) -> str:
    return stack.gateway_url


def admin(stack, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.auth.cli", *argv],
        env=stack.service_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_health_is_ok_with_db_s3_and_redis(gateway):
    result = requests.get(f"{gateway}/health", timeout=10)
    assert result.status_code == 200
    body = result.json()
    assert body["status"] == "ok"
    assert {"db", "s3", "redis", *SERVICES} <= body["checks"].keys()
    assert all(value == "ok" for value in body["checks"].values())
    assert "T" in body["timestamp"]


def test_each_services_health_is_reachable(gateway):
    for name in SERVICES:
        result = requests.get(f"{gateway}/health/{name}", timeout=10)
        assert result.status_code == 200, (name, result.text)
        assert {"db": "ok", "redis": "ok", "s3": "ok"}.items() <= result.json()["checks"].items(), name
        assert set(result.json()["checks"].values()) == {"ok"}, name


def logged(stack, service: str, request_id: str) -> bool:
    return request_id in stack.processes.log_path(service).read_text(errors="replace")


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth/me", "auth"),
        ("/api/v1/courses", "courses"),
        (f"/api/v1/courses/{uuid.uuid4()}", "courses"),
        (f"/api/v1/courses/{uuid.uuid4()}/materials", "uploads"),
        (f"/api/v1/courses/{uuid.uuid4()}/materials/{uuid.uuid4()}", "uploads"),
        ("/api/v1/reports/cost", "courses"),
    ],
)
def test_each_api_prefix_is_routed_to_its_service(stack, gateway, path, service):
    request_id = f"route-{uuid.uuid4().hex}"
    result = requests.get(f"{gateway}{path}", headers={"X-Request-ID": request_id}, timeout=10)
    # the service's own 401 (no key), and only that service logged the request
    assert result.status_code == 401 and result.json()["title"], result.text
    assert result.headers["X-Request-ID"] == request_id
    assert [name for name in SERVICES if logged(stack, name, request_id)] == [service]


def test_sixth_quick_call_over_a_limit_of_five_is_429_with_retry_after(stack, gateway, tenant):
    key = admin(
        stack, "create-key", "--tenant", tenant.name, "--scopes", "check", "--label", "burst", "--rate-check", "5"
    ).splitlines()[-1]
    with requests.Session() as session:
        answers = [session.get(f"{gateway}/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[-1].json()["title"] == "Too many requests"


def test_no_key_is_401_json(gateway):
    result = requests.get(f"{gateway}/api/v1/auth/me", timeout=10)
    assert result.status_code == 401
    assert result.headers["Content-Type"].startswith("application/json")


def test_revoked_key_is_401(stack, gateway, tenant):
    key = admin(stack, "create-key", "--tenant", tenant.name, "--scopes", "prep", "--label", "r").splitlines()[-1]
    assert requests.get(f"{gateway}/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10).status_code == 200
    admin(stack, "revoke-key", "--prefix", key[:20])
    assert requests.get(f"{gateway}/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10).status_code == 401


def test_path_no_service_owns_is_json_404(gateway):
    result = requests.get(f"{gateway}/wp-admin/index.php", timeout=10)
    assert result.status_code == 404
    assert result.json()["title"] == "Not found"


def test_a_json_body_announced_over_the_limit_is_refused_with_json_413_before_it_is_sent(gateway):
    # Announce 2 GiB to a JSON route and send nothing: nginx must answer from the headers alone.
    with socket.create_connection(("127.0.0.1", int(gateway.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413")
    assert '"title": "Payload too large"' in answer


def test_request_id_and_security_headers_on_every_answer(gateway):
    for path in ("/health", "/nowhere"):
        result = requests.get(f"{gateway}{path}", headers={"X-Request-ID": "trace-42"}, timeout=10)
        assert result.headers["X-Request-ID"] == "trace-42"
        assert result.headers["X-Content-Type-Options"] == "nosniff"
        assert result.headers["X-Frame-Options"] == "DENY"


def test_gateway_makes_a_request_id_when_the_client_sends_none(gateway):
    first = requests.get(f"{gateway}/health", timeout=10).headers["X-Request-ID"]
    second = requests.get(f"{gateway}/health", timeout=10).headers["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_service_that_is_down_answers_json_502(faults, gateway):
    # killed outright: down is down however it went (a graceful stop waits out its threads);
    # the faults fixture starts it again and waits for the stack to be whole
    faults.processes.stop("auth", sig=signal.SIGKILL, timeout=5)
    result = requests.get(f"{gateway}/api/v1/auth/me", timeout=10)
    assert result.status_code == 502
    assert result.json()["title"] == "Bad gateway"
    health = requests.get(f"{gateway}/health", timeout=10)
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"


def test_gateway_answers_its_own_liveness_without_a_service(gateway):
    result = requests.get(f"{gateway}/health/gateway", timeout=10)
    assert result.status_code == 200 and result.json() == {"status": "ok"}


def test_service_liveness_is_routed_and_checks_nothing(gateway):
    result = requests.get(f"{gateway}/health/courses/live", timeout=10)
    assert result.status_code == 200 and result.json() == {"status": "ok"}
