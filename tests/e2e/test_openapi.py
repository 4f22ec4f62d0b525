"""The public surface's OpenAPI document, /docs, and a bounded schemathesis run through the
gateway: no 5xx, and every answer matches what the document says."""

import hypothesis
import requests
import schemathesis
from hypothesis import strategies as st
from openapi_spec_validator import validate

from libs.http.openapi import document_path
from libs.http.pagination import encode_cursor, encode_position
from libs.platform.settings import SERVICES

# A cursor is opaque: the document declares its format, and the fuzzer makes real ones (of
# courses that may or may not exist), so "schema-valid data is accepted" can hold for it too.
schemathesis.openapi.format("cursor", st.builds(encode_cursor, st.datetimes(), st.uuids()))
schemathesis.openapi.format("position-cursor", st.builds(encode_position, st.integers(0, 2**31 - 1)))
# A webhook's URL is resolved when it is registered: the stack allows this machine's receivers
# (WEBHOOK_ALLOW_PRIVATE), so a literal address is one it takes without DNS.
schemathesis.openapi.format("webhook-url", st.builds("http://127.0.0.1:{}/hooks".format, st.integers(1, 65535)))


def test_openapi_document_validates_as_openapi_3(stack):
    result = requests.get(f"{stack.gateway_url}/openapi.json", timeout=10)
    assert result.status_code == 200
    document = result.json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


def test_every_route_of_every_service_is_documented(stack):
    import importlib

    paths = requests.get(f"{stack.gateway_url}/openapi.json", timeout=10).json()["paths"]
    for name in SERVICES:
        for route in importlib.import_module(f"services.{name}.routes").routes():
            if route.public:
                continue
            path = document_path(route.path)
            for method in route.scopes:
                operation = paths[path][method.lower()]
                assert {"401", "403", "429"} <= operation["responses"].keys(), (path, method)
                assert "Scopes:" in operation["description"]


def test_docs_page_renders_with_local_assets(stack):
    page = requests.get(f"{stack.gateway_url}/docs", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "swagger-ui-bundle.js" in page.text and "http" not in page.text.split("<body>")[1]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "docs-init.js"):
        answer = requests.get(f"{stack.gateway_url}/docs/assets/{asset}", timeout=10)
        assert answer.status_code == 200 and len(answer.content) > 50
    # encoded, so that the client does not resolve the dots itself before sending
    escape = requests.get(f"{stack.gateway_url}/docs/assets/..%2F..%2Fetc%2Fpasswd", timeout=10)
    assert escape.status_code == 404 and "root:" not in escape.text
    assert requests.get(f"{stack.gateway_url}/docs/assets/passwd", timeout=10).status_code == 404


def test_api_answers_match_the_document_and_never_5xx(stack, tenant):
    api_key = tenant.make_key(rate_prep=1_000_000, rate_check=1_000_000).secret
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=10, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck)
        )
        def exchange(case):
            # every check: no 5xx, answers conform to the document, schema-valid data is
            # accepted and invalid data refused
            case.call_and_validate(base_url=stack.gateway_url, headers={"X-API-Key": api_key})

        exchange()
