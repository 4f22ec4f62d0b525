"""The app factory's behaviour, through a small route table of the tests' own."""

import json
import logging

import falcon
import falcon.testing
import pytest
import requests

from devstack.processes import free_port
from libs.access.scopes import CHECK_ONLY, PREP_OR_CHECK
from libs.http.app import build_app
from libs.http.routing import Route
from libs.platform.log import JsonFormatter
from libs.platform.redis_client import create_redis
from libs.platform.settings import Settings


class Echo:
    def on_get(self, req, resp):
        resp.media = {"tenant": req.context.principal.tenant_name}


class Broken:
    def on_get(self, req, resp):
        raise RuntimeError("secret internals: password=hunter2")


def routes():
    return [
        Route("/echo", Echo(), {"GET": PREP_OR_CHECK}),
        Route("/check-only", Echo(), {"GET": CHECK_ONLY}),
        Route("/broken", Broken(), public=True),
    ]


@pytest.fixture
def echo_client(settings, pool, redis_client, storage):
    cors = Settings(
        **{
            **settings.__dict__,
            "cors_allowed_origins": ("https://school.example",),
            "cors_allowed_methods": ("GET", "POST", "PATCH"),
        }
    )
    app = build_app(cors, routes=routes(), pool=pool, redis_client=redis_client, storage=storage)
    return falcon.testing.TestClient(app)


def test_unknown_path_answers_json_404(echo_client):
    result = echo_client.simulate_get("/nowhere", headers={"Accept": "text/html"})
    assert result.status_code == 404
    assert result.headers["content-type"].startswith("application/json")
    assert result.json == {"title": "Not Found", "description": "Not Found"}


def test_unsupported_method_answers_json_405_with_allow(echo_client, tenant):
    result = echo_client.simulate_delete("/echo", headers={"X-API-Key": tenant.make_key().secret})
    assert result.status_code == 405
    assert result.json["title"] == "Method Not Allowed"
    assert result.headers["allow"] == "GET, HEAD, OPTIONS"


def test_405_carries_allow_on_public_routes_and_without_a_key(echo_client):
    assert echo_client.simulate_post("/health").headers["allow"] == "GET, HEAD, OPTIONS"
    result = echo_client.simulate_put("/echo")
    assert result.status_code == 405  # not 401: no method of the route is called
    assert result.headers["allow"] == "GET, HEAD, OPTIONS"
    assert result.headers["content-type"].startswith("application/json")


def test_unexpected_error_is_a_generic_json_500_and_is_logged(echo_client, caplog):
    with caplog.at_level(logging.ERROR):
        result = echo_client.simulate_get("/broken", headers={"X-Request-ID": "req-500"})
    assert result.status_code == 500
    assert result.json["title"] == "Internal server error"
    assert "hunter2" not in result.text and "Traceback" not in result.text
    assert "RuntimeError" in caplog.text and "unhandled error" in caplog.text


def test_request_id_is_echoed_when_sane(echo_client):
    assert echo_client.simulate_get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"


def test_request_id_is_generated_when_absent_or_insane(echo_client):
    insane = echo_client.simulate_get("/health", headers={"X-Request-ID": "bad id\x7f"}).headers["x-request-id"]
    absent = echo_client.simulate_get("/health").headers["x-request-id"]
    assert len(insane) == 32 and len(absent) == 32 and insane != absent


def test_route_open_to_both_scopes_accepts_either_key(echo_client, tenant):
    for scopes in (("prep",), ("check",)):
        result = echo_client.simulate_get("/echo", headers={"X-API-Key": tenant.make_key(scopes).secret})
        assert result.status_code == 200
        assert result.json == {"tenant": tenant.name}


def test_key_without_the_routes_scope_is_forbidden(echo_client, tenant):
    result = echo_client.simulate_get("/check-only", headers={"X-API-Key": tenant.make_key(("prep",)).secret})
    assert result.status_code == 403
    assert "check" in result.json["description"]


# Limits of 1/min: no token comes back within a minute, however slow the machine.


def test_route_open_to_both_spends_the_check_bucket_when_the_key_has_check(echo_client, tenant):
    key = tenant.make_key(("prep", "check"), rate_prep=100, rate_check=1).secret
    codes = [echo_client.simulate_get("/echo", headers={"X-API-Key": key}).status_code for _ in range(2)]
    assert codes == [200, 429]


def test_route_open_to_both_spends_the_prep_bucket_for_a_prep_key(echo_client, tenant):
    key = tenant.make_key(("prep",), rate_prep=1, rate_check=100).secret
    codes = [echo_client.simulate_get("/echo", headers={"X-API-Key": key}).status_code for _ in range(2)]
    assert codes == [200, 429]


def test_rate_limited_answer_carries_retry_after(echo_client, tenant):
    key = tenant.make_key(("check",), rate_check=1).secret
    echo_client.simulate_get("/echo", headers={"X-API-Key": key})
    result = echo_client.simulate_get("/echo", headers={"X-API-Key": key})
    assert result.status_code == 429
    assert 1 <= int(result.headers["retry-after"]) <= 60
    assert result.json["title"] == "Too many requests"


def test_cors_preflight_answers_without_a_key(echo_client):
    result = echo_client.simulate_options(
        "/echo", headers={"Origin": "https://school.example", "Access-Control-Request-Method": "PATCH"}
    )
    assert result.status_code == 204
    assert result.headers["access-control-allow-origin"] == "https://school.example"
    assert result.headers["access-control-allow-methods"] == "GET, POST, PATCH"


def test_cors_headers_only_for_allowed_origins(echo_client):
    allowed = echo_client.simulate_get("/health", headers={"Origin": "https://school.example"})
    other = echo_client.simulate_get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://school.example"
    assert "access-control-allow-origin" not in other.headers


def test_health_reports_every_dependency(echo_client):
    result = echo_client.simulate_get("/health")
    assert result.status_code == 200
    assert result.json["status"] == "ok"
    assert result.json["checks"] == {"db": "ok", "redis": "ok", "s3": "ok"}


def test_health_is_503_and_the_limiter_fails_open_when_redis_is_down(settings, pool, storage, tenant, caplog):
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    dead_redis_client = falcon.testing.TestClient(
        build_app(settings, routes=routes(), pool=pool, redis_client=dead, storage=storage)
    )
    health = dead_redis_client.simulate_get("/health")
    assert health.status_code == 503
    assert health.json["status"] == "degraded"
    assert health.json["checks"]["redis"] != "ok"
    assert health.json["checks"]["db"] == "ok"
    key = tenant.make_key(("check",), rate_check=1).secret
    with caplog.at_level(logging.WARNING, logger="libs.access.ratelimit"):
        codes = [dead_redis_client.simulate_get("/echo", headers={"X-API-Key": key}).status_code for _ in range(10)]
    assert codes == [200] * 10
    # one warning a minute, not one per request
    assert [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "libs.access.ratelimit"] == [
        "rate limiter unavailable, allowing requests without a limit"
    ]


def test_production_logs_are_one_json_object_per_line():
    record = logging.LogRecord("access", logging.INFO, __file__, 1, "request", None, None)
    for name, value in {"method": "GET", "path": "/x", "status": 200, "latency_ms": 1.5, "tenant": "Acme"}.items():
        setattr(record, name, value)
    line = JsonFormatter("auth").format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "info" and entry["event"] == "request" and entry["service"] == "auth"
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["tenant"] == "Acme"


def test_a_protected_responder_without_declared_scopes_refuses_to_build(settings, pool, redis_client, storage):
    class Forgotten:
        def on_get(self, req, resp):
            resp.media = {}

        def on_delete(self, req, resp):
            resp.media = {}

    with pytest.raises(ValueError, match="no scopes declared for DELETE"):
        build_app(
            settings,
            routes=[Route("/forgotten", Forgotten(), {"GET": PREP_OR_CHECK})],
            pool=pool,
            redis_client=redis_client,
            storage=storage,
        )


def _head_matches_get(client: falcon.testing.TestClient, path: str, headers: dict | None = None) -> None:
    get = client.simulate_get(path, headers=headers)
    head = client.simulate_head(path, headers=headers)
    assert head.status_code == get.status_code
    assert get.content and head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_head_answers_every_get_route_with_its_headers_and_no_body(echo_client, tenant):
    key = {"X-API-Key": tenant.make_key(("check",)).secret}
    _head_matches_get(echo_client, "/echo", key)
    _head_matches_get(echo_client, "/health/live")
    health = echo_client.simulate_head("/health")
    assert health.status_code == 200 and health.content == b"" and int(health.headers["content-length"]) > 0


def test_head_needs_the_key_and_the_scope_get_needs(echo_client, tenant):
    assert echo_client.simulate_head("/echo").status_code == 401
    prep_key = {"X-API-Key": tenant.make_key(("prep",)).secret}
    forbidden = echo_client.simulate_head("/check-only", headers=prep_key)
    assert forbidden.status_code == 403 and forbidden.content == b""


def test_head_spends_a_token_like_get(echo_client, tenant):
    key = {"X-API-Key": tenant.make_key(("check",), rate_check=1).secret}
    assert echo_client.simulate_head("/echo", headers=key).status_code == 200
    assert echo_client.simulate_get("/echo", headers=key).status_code == 429


def test_head_on_the_services_real_routes(client, make_client, tenant):
    key = {"X-API-Key": tenant.make_key(("prep", "check")).secret}
    _head_matches_get(client, "/api/v1/auth/me", key)
    courses = make_client("courses")
    created = courses.simulate_post("/api/v1/courses", json={"title": "HEAD"}, headers=key)
    assert created.status_code == 201
    path = f"/api/v1/courses/{created.json['id']}"
    _head_matches_get(courses, path, key)
    etag = courses.simulate_get(path, headers=key).headers["etag"]
    assert courses.simulate_head(path, headers={**key, "If-None-Match": etag}).status_code == 304
    _head_matches_get(courses, "/api/v1/courses", key)


def test_head_is_not_part_of_the_published_api(client):
    operations = {method for item in client.simulate_get("/openapi.json").json["paths"].values() for method in item}
    assert "get" in operations and "head" not in operations


def test_head_through_gunicorn_and_the_gateway_matches_get(stack, tenant):
    # what a client sees on the wire: gunicorn sends HEAD's headers and no body
    url = f"{stack.gateway_url}/api/v1/auth/me"
    headers = {"X-API-Key": tenant.make_key(("check",)).secret, "Accept-Encoding": "identity"}
    get = requests.get(url, headers=headers, timeout=10)
    head = requests.head(url, headers=headers, timeout=10)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.content))
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
