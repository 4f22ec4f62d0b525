"""Dependencies that go away and come back: /health follows them without a restart."""

import time

import requests


def wait_for_status(url: str, status: int, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        result = requests.get(url, timeout=10)
        assert time.monotonic() - started < 5.5, "GET /health must answer within 5 s"
        if result.status_code == status or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_health_is_503_while_postgres_is_stopped_and_200_once_it_is_back(stack):
    url = f"{stack.gateway_url}/health"
    stack.stop_postgres()
    try:
        down = wait_for_status(url, 503)
        assert down.status_code == 503, down.text
        assert down.json()["checks"].get("db", down.text).startswith("error:")
        assert down.json()["checks"]["redis"] == "ok"
    finally:
        stack.start_postgres()
    back = wait_for_status(url, 200)
    assert back.status_code == 200
    assert back.json()["checks"]["db"] == "ok"


def test_health_is_503_while_redis_is_stopped_and_200_once_it_is_back(stack):
    url = f"{stack.gateway_url}/health"
    stack.stop_redis()
    try:
        down = wait_for_status(url, 503)
        assert down.status_code == 503
        assert down.json()["checks"]["redis"].startswith("error:")
    finally:
        stack.start_redis()
    assert wait_for_status(url, 200).status_code == 200


def test_no_request_fails_on_a_stale_connection_after_postgres_restarts(stack, tenant):
    key = {"X-API-Key": tenant.make_key().secret}
    url = f"{stack.gateway_url}/api/v1/auth/me"
    with requests.Session() as http:
        for _ in range(20):  # fill the pools with open connections
            assert http.get(url, headers=key, timeout=10).status_code == 200
        stack.stop_postgres()
        stack.start_postgres()
        codes = [http.get(url, headers=key, timeout=10).status_code for _ in range(20)]
    assert codes == [200] * 20
