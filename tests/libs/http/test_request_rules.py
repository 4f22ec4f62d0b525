"""One rule each for what every service receives (libs/http/request_rules.py), through an app
the factory builds: integers in paths have one spelling, paths and query strings are UTF-8,
and OPTIONS answers 204 with Allow and no body."""

import falcon.testing
import pytest

from libs.access.scopes import PREP_OR_CHECK
from libs.http.app import build_app
from libs.http.routing import Route


class Version:
    def on_get(self, req, resp, n):
        resp.media = {"n": n, "q": req.get_param("q")}


@pytest.fixture
def client(settings, pool, redis_client, storage):
    routes = [Route("/versions/{n:int(min=1,max=2147483647)}", Version(), {"GET": PREP_OR_CHECK})]
    return falcon.testing.TestClient(
        build_app(settings, routes=routes, pool=pool, redis_client=redis_client, storage=storage)
    )


@pytest.fixture
def key(tenant):
    return {"X-API-Key": tenant.make_key().secret}


def test_an_integer_in_a_path_is_read_in_its_one_spelling(client, key):
    assert client.simulate_get("/versions/12", headers=key).json["n"] == 12


@pytest.mark.parametrize("spelling", ["+1", "01", "\u0661", "1_0", " 1", "-1", "0x1"])
def test_any_other_spelling_of_an_integer_names_no_resource(client, key, spelling):
    result = client.simulate_get(f"/versions/{spelling}", headers=key)
    assert result.status_code == 404, result.text


def test_a_path_that_is_not_utf8_is_400(client, key):
    environ = falcon.testing.create_environ(path="/versions/1", headers=key)
    environ["PATH_INFO"] = b"/versions/1\xff".decode("latin-1")  # as a WSGI server hands it over
    result = falcon.testing.simulate_request(client.app, "GET", "/versions/1", extras=environ)
    assert result.status_code == 400
    assert result.json == {"title": "Bad request", "description": "The request path is not valid UTF-8."}


@pytest.mark.parametrize("query", ["q=%ff", "q=caf%C3", "%fe=1"])
def test_a_query_string_that_is_not_utf8_is_400_not_a_replaced_character(client, key, query):
    result = client.simulate_get("/versions/1", query_string=query, headers=key)
    assert result.status_code == 400
    assert result.json["description"] == "The query string is not valid UTF-8."


def test_a_utf8_query_string_is_read(client, key):
    assert client.simulate_get("/versions/1", query_string="q=caf%C3%A9", headers=key).json["q"] == "café"


def test_options_is_204_with_allow_and_no_body(client, key):
    result = client.simulate_options("/versions/1", headers=key)
    assert result.status_code == 204
    assert result.headers["allow"] == "GET, HEAD, OPTIONS"
    assert result.content == b"" and "content-type" not in result.headers
