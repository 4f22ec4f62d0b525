"""The public /health through the gateway: every service and dependency, the truth when one is
stuck, nothing internal in the body, and no load for its callers to generate."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

from libs.http.health import CACHE_SECONDS
from libs.platform.settings import SERVICES


def poll(url: str, until: Callable[[requests.Response], bool], timeout: float = 20) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        result = requests.get(url, headers={"X-Request-ID": f"health-{uuid.uuid4().hex}"}, timeout=10)
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def workers_of(master: int) -> int:
    return len(Path(f"/proc/{master}/task/{master}/children").read_text().split())


def liveness_probes(stack, service: str) -> int:
    """How many ``GET /health/live`` the service has logged (one per probe run elsewhere)."""
    return len(re.findall(r"path\W+/health/live\b", stack.processes.log_path(service).read_text(errors="replace")))


def test_health_checks_every_service_and_dependency(stack):
    result = requests.get(f"{stack.gateway_url}/health", timeout=10)
    assert result.status_code == 200, result.text
    assert result.json()["checks"] == {name: "ok" for name in ("db", "redis", "s3", *SERVICES)}


def test_health_is_503_naming_a_stuck_service_and_its_body_holds_no_internals(stack, faults):
    master = stack.processes.pid("courses")
    assert master is not None
    os.killpg(master, signal.SIGSTOP)  # the whole gunicorn: master and workers
    try:
        down = poll(f"{stack.gateway_url}/health", lambda r: r.status_code == 503)
        assert down.status_code == 503, down.text
        body = down.json()
        assert body["status"] == "degraded"
        assert body["checks"] == {**dict.fromkeys(("db", "redis", "s3", *SERVICES), "ok"), "courses": "fail"}
        # no exception text, host or port: only ok/fail (the timestamp aside, which has colons)
        text = json.dumps({**body, "timestamp": None})
        assert not re.search(r"error|timed out|exception|refused|127\.0\.0\.1|:\d{2,5}\b", text, re.IGNORECASE)
        # the detail is in the auth service's log, under the request id the caller saw
        request_id = down.headers["X-Request-ID"]
        lines = [line for line in stack.processes.log_path("auth").read_text().splitlines() if request_id in line]
        assert any("courses" in line and "health check failed" in line for line in lines), lines
        # the service's own path: the gateway's wait for it runs out, and it names the service
        own = requests.get(f"{stack.gateway_url}/health/courses", timeout=15)
        assert own.status_code == 503
        assert own.json()["checks"] == {"courses": "fail"}
        assert "unreachable" not in own.text and "127.0.0.1" not in own.text
    finally:
        os.killpg(master, signal.SIGCONT)
    assert poll(f"{stack.gateway_url}/health", lambda r: r.status_code == 200).status_code == 200


def test_rapid_health_calls_share_one_probe_run_per_second_and_process(stack):
    url = f"{stack.gateway_url}/health"
    requests.get(url, timeout=10)
    # every auth worker's results are stale by now, so the burst must run the probes again
    time.sleep(CACHE_SECONDS + 0.5)
    before = liveness_probes(stack, "uploads")
    started = time.monotonic()
    with requests.Session() as http:
        for _ in range(60):
            assert http.get(url, timeout=10).status_code == 200
    elapsed = time.monotonic() - started
    # a run logs its probe before the answer it makes leaves; allow the log a moment to flush
    deadline = time.monotonic() + 2
    while liveness_probes(stack, "uploads") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    runs = liveness_probes(stack, "uploads") - before
    # each auth worker runs the probes at most once per CACHE_SECONDS (and maybe once more
    # for a run begun just before the burst); without the cache this would be 60
    workers = workers_of(stack.processes.pid("auth"))
    assert 1 <= runs <= workers * (math.ceil(elapsed / CACHE_SECONDS) + 1), (runs, workers, elapsed)
    assert runs < 60
