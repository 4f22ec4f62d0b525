"""libs.http.health: ok/fail only in public, the detail in the log, one probe run per cache period."""

from __future__ import annotations

import logging
import socket
import threading
import time

import falcon
import falcon.testing
import pytest

from libs.http.health import Health, liveness_check
from libs.platform.gunicorn_config import THREADS_BY_SERVICE, service_name


class Counting:
    def __init__(self, error: Exception | None = None, delay: float = 0) -> None:
        self.runs = 0
        self.error = error
        self.delay = delay

    def __call__(self) -> None:
        self.runs += 1
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error


def client_of(health: Health) -> falcon.testing.TestClient:
    app = falcon.App()
    app.add_route("/health", health)
    return falcon.testing.TestClient(app)


def test_rapid_calls_share_one_probe_run():
    check = Counting()
    client = client_of(Health({"db": check}, cache_seconds=60))
    answers = [client.simulate_get("/health") for _ in range(50)]
    assert {a.status_code for a in answers} == {200}
    assert check.runs == 1


def test_results_are_refreshed_once_the_cache_period_is_over():
    check = Counting()
    health = Health({"db": check}, cache_seconds=0.05)
    health.report()
    time.sleep(0.1)
    health.report()
    assert check.runs == 2


def test_callers_during_a_refresh_get_the_last_results_instead_of_waiting(monkeypatch):
    # the held refresh must not end by running out of its deadline while the test asks
    monkeypatch.setattr("libs.http.health.DEADLINE_SECONDS", 30.0)
    started, release = threading.Event(), threading.Event()
    runs = 0

    def check() -> None:
        nonlocal runs
        runs += 1
        if runs > 1:  # the refresh: hold it until the test is done asking
            started.set()
            assert release.wait(30)

    health = Health({"db": check}, cache_seconds=0)  # every report after the first is stale
    first = health.report()
    refresher = threading.Thread(target=health.report, daemon=True)
    refresher.start()
    try:
        assert started.wait(5), "the refresh never began"
        answers: list[object] = []
        caller = threading.Thread(target=lambda: answers.append(health.report()), daemon=True)
        caller.start()
        caller.join(timeout=2)
        assert not caller.is_alive(), "a caller waited for the running refresh"
        assert answers == [first] and answers[0] is first
    finally:
        release.set()
        refresher.join(timeout=5)
    assert not refresher.is_alive()
    assert runs == 2


def test_failed_check_is_fail_in_public_and_its_detail_is_logged(caplog):
    secret = "connection to 10.0.0.7:5432 refused"
    client = client_of(Health({"db": Counting(OSError(secret)), "redis": Counting()}))
    with caplog.at_level(logging.WARNING, logger="libs.http.health"):
        result = client.simulate_get("/health")
    assert result.status_code == 503
    assert result.json["status"] == "degraded"
    assert result.json["checks"] == {"db": "fail", "redis": "ok"}
    assert secret not in result.text and "OSError" not in result.text
    assert any(secret in getattr(record, "detail", "") for record in caplog.records)


def test_liveness_check_fails_when_nothing_listens():
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OSError):
        liveness_check(f"http://127.0.0.1:{port}", timeout=0.5)()


def test_gunicorn_threads_follow_the_served_app():
    argv = [
        "gunicorn",
        "-c",
        "python:libs.platform.gunicorn_config",
        "--bind",
        "127.0.0.1:8002",
        "services.uploads.wsgi:app",
    ]
    assert service_name(argv) == "uploads"
    assert service_name(["gunicorn", "services.courses.wsgi:app"]) == "courses"
    assert service_name(["pytest"]) is None
    assert THREADS_BY_SERVICE["uploads"] > 2
