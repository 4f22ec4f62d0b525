"""Hostile and malformed input on every JSON route: a 4xx JSON answer that names the problem in
the client's terms, never a 500 or a parser's own message."""

import pytest

INTERNALS = ("Traceback", "codec", "sys.set_int_max_str_digits", "recursion", "Exceeds the limit", "Errno")


@pytest.fixture
def json_routes(course) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/v1/courses"),
        ("PATCH", f"/api/v1/courses/{course['id']}"),
        ("POST", f"/api/v1/courses/{course['id']}/slide-mapping"),
        ("POST", "/api/v1/webhooks"),
    ]


def send(client, prep, method: str, path: str, body: bytes):
    headers = {**prep, "Content-Type": "application/json"}
    return client.simulate_request(method, path, headers=headers, body=body)


def assert_plain(result) -> None:
    assert result.headers["content-type"].startswith("application/json")
    assert set(result.json) >= {"title", "description"}
    assert not any(word in result.text for word in INTERNALS), result.text


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"title": ' + b"9" * 5000 + b"}",
        b'{"title": "caf\xe9"}',
        b'{"title": "x"',
        b"",
    ],
    ids=["deep-array", "deep-object", "huge-integer", "latin-1-bytes", "truncated", "empty"],
)
def test_a_body_that_is_not_json_is_400_on_every_json_route(client, prep, json_routes, body):
    for method, path in json_routes:
        result = send(client, prep, method, path, body)
        assert result.status_code == 400, (method, path, result.text)
        assert_plain(result)


def test_a_lone_surrogate_is_422_naming_the_field(client, prep, json_routes):
    for method, path in json_routes[:2]:
        result = send(client, prep, method, path, b'{"title": "bad \\ud800 text"}')
        assert result.status_code == 422, (method, path, result.text)
        errors = result.json["errors"]
        assert [error["field"] for error in errors] == ["title"]
        assert "surrogate" in errors[0]["message"]
        assert_plain(result)


def test_a_lone_surrogate_in_a_field_name_is_422(client, prep, json_routes):
    result = send(client, prep, "POST", json_routes[0][1], b'{"title": "t", "\\udfff": 1}')
    assert result.status_code == 422
    assert result.json["errors"][0]["message"] == "unknown field"


def test_a_body_over_the_json_cap_is_413_before_it_is_read(client, prep, json_routes, settings):
    body = b'{"title": "' + b"x" * settings.max_json_bytes + b'"}'
    for method, path in json_routes:
        result = send(client, prep, method, path, body)
        assert result.status_code == 413, (method, path)
        assert str(settings.max_json_bytes) in result.json["description"]


def test_patch_without_a_field_is_422(client, prep, json_routes):
    result = send(client, prep, "PATCH", json_routes[1][1], b"{}")
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=1e3", "limit=" + "9" * 40, "limit=-1", "cursor=***", "cursor=bm90IGEgY3Vyc29y"],
)
def test_bad_page_parameters_are_422_naming_the_parameter(client, prep, query):
    result = client.simulate_get("/api/v1/courses", query_string=query, headers=prep)
    assert result.status_code == 422, result.text
    assert result.json["errors"][0]["field"] == query.split("=")[0]
    assert_plain(result)


@pytest.mark.parametrize("query", ["from=0001-01-01&to=9999-12-31", "to=9999-12-31", "from=9999-12-31"])
def test_cost_report_takes_the_first_and_last_days_of_the_calendar(client, prep, query):
    assert client.simulate_get("/api/v1/reports/cost", query_string=query, headers=prep).status_code == 200


@pytest.mark.parametrize(
    "query", ["to=10000-01-01", "from=0000-12-31", "from=2024-02-30", "to=2024-1-1", "from=%00", "to=+2024-01-01"]
)
def test_cost_report_refuses_days_off_the_calendar_with_422(client, prep, query):
    result = client.simulate_get("/api/v1/reports/cost", query_string=query, headers=prep)
    assert result.status_code == 422, result.text
    assert result.json["errors"][0]["field"] == query.split("=")[0]
    assert_plain(result)
