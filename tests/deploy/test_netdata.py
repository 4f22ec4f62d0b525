"""Netdata's configuration: the httpcheck jobs pass yamllint (shown rejecting a planted mistake),
watch every service and the agent's queue, and every job has an alert."""

from __future__ import annotations

import re

import pytest
import yaml

from libs.platform.settings import SERVICES
from tests.deploy.tools import REPO, Venv, run

NETDATA = REPO / "deploy" / "netdata"
HTTPCHECK = NETDATA / "go.d" / "httpcheck.conf"
ALERTS = NETDATA / "health.d" / "course-supporter.conf"
CONFIG = REPO / "deploy" / "yamllint.yaml"


def _jobs() -> dict[str, dict]:
    return {job["name"]: job for job in yaml.safe_load(HTTPCHECK.read_text())["jobs"]}


def _queue_job() -> dict:
    return next(job for job in _jobs().values() if job["url"].endswith("/health/agent?watch=queue"))


def test_netdata_yaml_passes_yamllint(validators: Venv) -> None:
    files = [CONFIG, HTTPCHECK, *REPO.glob("deploy/**/*.y*ml")]
    result = run([validators.bin("yamllint"), "--strict", "-c", CONFIG, *files])
    assert result.returncode == 0, result.output


def test_yamllint_rejects_a_duplicated_key(validators: Venv, planted) -> None:
    bad = planted(HTTPCHECK, "    timeout: 5\n", "    timeout: 5\n    timeout: 10\n")
    result = run([validators.bin("yamllint"), "--strict", "-c", CONFIG, bad])
    assert result.returncode == 1, result.output
    assert 'duplication of key "timeout" in mapping' in result.output


def test_every_service_health_endpoint_is_checked_for_200() -> None:
    urls = {job["url"]: job for job in _jobs().values()}
    for path in ["/health", *(f"/health/{service}" for service in SERVICES)]:
        job = urls.get(f"http://course-supporter-app:8080{path}")
        assert job is not None, f"no httpcheck job for {path}"
        assert job["status_accepted"] == [200], path


@pytest.mark.parametrize(
    ("seconds", "healthy"),
    [("0.0", True), ("12.345", True), ("59.999", True), ("60.0", False), ("301.5", False), ("1234", False)],
)
def test_the_queue_job_flags_a_job_waiting_a_minute(seconds: str, healthy: bool) -> None:
    # Go's RE2 and Python's re agree on this pattern (no look-around, no back-references)
    body = (
        '{"status": "ok", "checks": {"db": "ok", "queue": "ok"}, '
        f'"metrics": {{"oldest_queued_job_seconds": {seconds}}}, "timestamp": "2026-01-01T00:00:00+00:00"}}'
    )
    assert bool(re.search(_queue_job()["response_match"], body)) is healthy


def test_every_job_has_an_alert() -> None:
    alerts = ALERTS.read_text()
    assert "chart labels: url=!*watch=queue* *course-supporter-app*" in alerts  # every endpoint but the queue
    assert re.search(r"chart labels: url=\*watch=queue\*\n(.*\n)*?\s+lookup: .*percentage of bad_content", alerts)
    for job in _jobs().values():
        assert "course-supporter-app" in job["url"], job["name"]
