"""Which service owns which path is declared once, in each service's route table; the gateway's
locations are written beside them by hand, so these tests tie the two: every route of every
service, called through the gateway, reaches that service and no other, and every
``/health/<service>`` answers the health shape naming that service when it is down."""

from __future__ import annotations

import importlib
import re
import signal
import uuid

import pytest
import requests

from libs.platform.settings import SERVICES


def _concrete(path: str) -> str:
    """A path a client could call: each ``{name:converter}`` field filled with a value of its kind."""

    def fill(match: re.Match) -> str:
        converter = match.group(2) or ""
        if converter.startswith("uuid"):
            return str(uuid.uuid4())
        if converter.startswith("int"):
            return "1"
        return "student-1"

    return re.sub(r"\{(\w+)(?::([^}]*))?\}", fill, path)


def _routes() -> list[tuple[str, str, str]]:
    """(service, method, path) for every route of every service's route table."""
    found = []
    for service in SERVICES:
        for route in importlib.import_module(f"services.{service}.routes").routes():
            for method in sorted(route.scopes) or ["GET"]:
                found.append((service, method, route.path))
    return found


def _served_by(stack, request_id: str) -> list[str]:
    return [name for name in SERVICES if request_id in stack.processes.log_path(name).read_text(errors="replace")]


@pytest.mark.parametrize(("service", "method", "path"), _routes(), ids=lambda value: str(value))
def test_every_route_of_every_service_reaches_that_service_through_the_gateway(stack, service, method, path):
    request_id = f"route-{uuid.uuid4().hex}"
    answer = requests.request(
        method, stack.gateway_url + _concrete(path), headers={"X-Request-ID": request_id}, timeout=10
    )
    # answered by that service (401 without a key, or a public route's own answer), and logged
    # by it alone: never the gateway's 404 for a path no location routes, nor another service
    assert "No endpoint serves this path" not in answer.text
    assert _served_by(stack, request_id) == [service], answer.text


@pytest.mark.parametrize("service", SERVICES)
def test_the_health_of_a_service_that_is_down_answers_the_health_shape_naming_it(stack, faults, service):
    # killed outright: a down service is down however it went (a graceful stop waits out its
    # threads), and the faults fixture starts it again
    stack.processes.stop(service, sig=signal.SIGKILL, timeout=5)
    answer = requests.get(f"{stack.gateway_url}/health/{service}", timeout=10)
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert (body["status"], body["checks"]) == ("degraded", {service: "fail"})
    assert "T" in body["timestamp"]
