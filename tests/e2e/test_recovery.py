"""Dependencies that go away and come back: /health follows them without a restart."""

import time
from concurrent.futures import ThreadPoolExecutor

import requests


def wait_for_check(url: str, name: str, value: str, timeout: float = 30) -> requests.Response:
    """GET /health until its check ``name`` reads ``value`` (each worker process caches its
    probes for a second, so one answer may still show the state before)."""
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        result = requests.get(url, timeout=10)
        assert time.monotonic() - started < 5.5, "GET /health must answer within 5 s"
        if result.json().get("checks", {}).get(name) == value or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_health_and_the_api_are_503_while_postgres_is_stopped_and_200_once_it_is_back(stack, faults, tenant):
    url = f"{stack.gateway_url}/health"
    key = {"X-API-Key": tenant.make_key().secret}
    stack.stop_postgres()
    try:
        down = wait_for_check(url, "db", "fail")
        assert down.status_code == 503, down.text
        assert down.json()["checks"]["db"] == "fail"
        assert down.json()["checks"]["redis"] == "ok"
        # an API call that needs the database: a JSON 503 with Retry-After, not a 500
        started = time.monotonic()
        api = requests.get(f"{stack.gateway_url}/api/v1/courses", headers=key, timeout=30)
        assert (api.status_code, api.json()["title"]) == (503, "Service unavailable"), api.text
        assert int(api.headers["Retry-After"]) >= 1 and time.monotonic() - started < 15
    finally:
        stack.start_postgres()
    back = wait_for_check(url, "db", "ok")
    assert back.status_code == 200, back.text


def test_health_is_503_while_redis_is_stopped_and_200_once_it_is_back(stack, faults):
    url = f"{stack.gateway_url}/health"
    stack.stop_redis()
    try:
        down = wait_for_check(url, "redis", "fail")
        assert down.status_code == 503, down.text
        assert down.json()["checks"]["redis"] == "fail"
    finally:
        stack.start_redis()
    back = wait_for_check(url, "redis", "ok")
    assert back.status_code == 200, back.text


def test_no_request_fails_on_a_stale_connection_after_postgres_restarts(stack, faults, tenant):
    key = {"X-API-Key": tenant.make_key().secret}
    # the course list reads PostgreSQL on every request (the key itself may come from the cache)
    url = f"{stack.gateway_url}/api/v1/courses"
    with requests.Session() as http:
        for _ in range(20):  # fill the pools with open connections
            assert http.get(url, headers=key, timeout=10).status_code == 200
        stack.stop_postgres()
        stack.start_postgres()
        codes = [http.get(url, headers=key, timeout=10).status_code for _ in range(20)]
    assert codes == [200] * 20


def test_requests_answer_503_within_5_s_while_postgres_is_frozen_and_recover_after_the_thaw(stack, faults, tenant):
    headers = {"X-API-Key": tenant.make_key().secret}
    paths = ["/api/v1/courses", "/api/v1/storage/usage", "/api/v1/usage", "/api/v1/webhooks"]
    assert all(requests.get(f"{stack.gateway_url}{p}", headers=headers, timeout=10).ok for p in paths)

    def timed(path: str) -> tuple[int, float, str]:
        started = time.monotonic()
        answer = requests.get(f"{stack.gateway_url}{path}", headers=headers, timeout=30)
        return answer.status_code, time.monotonic() - started, answer.headers.get("Content-Type", "")

    stack.freeze("postgres")  # its sockets stay open; nothing answers (a partition looks the same)
    try:
        with ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(timed, paths))
        assert all(status in (503, 504) for status, _, _ in answers), answers
        assert all(seconds < 5 for _, seconds, _ in answers), answers
        assert all(kind.startswith("application/json") for _, _, kind in answers), answers
        health = wait_for_check(f"{stack.gateway_url}/health", "db", "fail")
        assert health.status_code == 503 and health.json()["checks"]["db"] == "fail"
    finally:
        stack.thaw("postgres")
    thawed = time.monotonic()
    while not all(requests.get(f"{stack.gateway_url}{p}", headers=headers, timeout=10).ok for p in paths):
        assert time.monotonic() - thawed < 10, "not recovered within 10 s of the thaw"
        time.sleep(0.2)
