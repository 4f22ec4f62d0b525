"""scripts/smoke_test.sh, the deploy workflow's last step, against the session's real stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smoke_test.sh"


@pytest.fixture(scope="module")
def curl() -> str:
    """The script's one tool beyond bash and python3; a fresh CI machine may lack it."""
    if shutil.which("curl") is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "curl"],
            check=True,
            timeout=300,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    found = shutil.which("curl")
    assert found, "curl could not be installed"
    return found


def smoke(curl: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False)


def results(output: str) -> dict[str, str]:
    """``{check name: "PASS" | "FAIL"}`` from the script's ``PASS name: …`` lines."""
    lines = [line.split(" ", 1) for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))]
    return {rest.split(":", 1)[0]: verdict for verdict, rest in lines}


def wait_for_health_check(url: str, name: str, value: str, timeout: float = 30) -> None:
    """Until /health's check ``name`` reads ``value`` (each worker caches its probes a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(url, timeout=10).json().get("checks", {}).get(name) == value:
            return
        time.sleep(0.3)
    raise AssertionError(f"/health never showed {name}={value}")


def test_the_smoke_test_passes_every_check_against_a_healthy_stack(stack, tenant, curl):
    result = smoke(curl, stack.gateway_url, tenant.make_key(("check",)).secret)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = results(result.stdout)
    # every check ran and passed (the header checks only run behind the host nginx)
    assert verdicts == dict.fromkeys(["health", "no-key", "bad-key", "key", "openapi", "docs", "not-found"], "PASS")


def test_the_smoke_test_fails_naming_health_while_redis_is_stopped(stack, tenant, curl):
    key = tenant.make_key().secret
    health = f"{stack.gateway_url}/health"
    stack.stop_redis()
    try:
        wait_for_health_check(health, "redis", "fail")
        result = smoke(curl, stack.gateway_url, key)
    finally:
        stack.start_redis()
        wait_for_health_check(health, "redis", "ok")
    assert result.returncode == 1, result.stdout
    assert results(result.stdout)["health"] == "FAIL"
    assert "redis=fail" in result.stdout
    # the limiter fails open: the API itself still answers
    assert results(result.stdout)["key"] == "PASS"


def test_the_smoke_test_fails_when_nothing_answers(curl):
    from devstack.ports import free_port

    result = smoke(curl, f"http://127.0.0.1:{free_port()}", "cs_live_whatever")
    assert result.returncode == 1
    assert "PASS" not in result.stdout
    assert "no answer" in result.stdout


def test_expecting_tls_headers_fails_on_the_gateway_which_sets_no_hsts(stack, tenant, curl):
    result = smoke(curl, "--expect-tls-headers", stack.gateway_url, tenant.make_key().secret)
    assert result.returncode == 1
    verdicts = results(result.stdout)
    assert verdicts["header-Strict-Transport-Security"] == "FAIL"
    assert verdicts["header-X-Content-Type-Options"] == "PASS"


def test_the_smoke_test_refuses_a_base_url_without_a_scheme(curl):
    result = smoke(curl, "api.example.com", "cs_live_whatever")
    assert result.returncode == 2
    assert "BASE_URL must start with http:// or https://" in result.stderr
