"""The OpenAPI 3 document of the public surface, built from the services' route tables.

Each resource class documents its operations in an ``openapi`` mapping (method → operation:
summary, parameters, requestBody, success responses); scopes come from the route table and
the error responses every operation can give (401, 403, 404, 422, 429, …) are added here, so
the document and the code cannot drift apart.
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Iterable
from typing import Any

from libs.routing import Route
from libs.settings import SERVICES

# method → OpenAPI operation object, as resource classes declare them
Operations = dict[str, dict[str, Any]]

ERROR = {"$ref": "#/components/schemas/Error"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error(description: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {"description": description, "content": json_content(ERROR)}
    if headers:
        response["headers"] = headers
    return response


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["title", "description"],
            "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "checks", "timestamp"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                "timestamp": {"type": "string"},
            },
        },
    },
}

_HEALTH = {
    "summary": "Deep health check of the service and its dependencies",
    "responses": {
        "200": {"description": "Everything is ok", "content": json_content(ref("Health"))},
        "503": {"description": "A dependency is failing", "content": json_content(ref("Health"))},
    },
}


def _operation(route: Route, method: str, spec: dict) -> dict:
    operation = copy.deepcopy(spec)
    responses = operation.setdefault("responses", {})
    parameters = operation.setdefault("parameters", [])
    for name, converter in _PARAM.findall(route.path):
        schema = {"type": "string", "format": "uuid"} if converter == "uuid" else {"type": "string"}
        parameters.insert(0, {"name": name, "in": "path", "required": True, "schema": schema})
    if not parameters:
        del operation["parameters"]
    if not route.public:
        scopes = sorted(route.scopes[method])
        operation["security"] = [{"ApiKey": []}]
        operation["description"] = (operation.get("description", "") + f"\n\nScopes: {' or '.join(scopes)}.").strip()
        responses.setdefault("401", error("Missing, unknown, revoked or expired API key, or inactive tenant"))
        responses.setdefault("403", error("The API key lacks the scope this operation needs"))
        responses.setdefault(
            "429",
            error(
                "Rate limit used up",
                {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait"}},
            ),
        )
    if _PARAM.search(route.path):
        responses.setdefault("404", error("No such resource for this tenant"))
    if "requestBody" in operation:
        responses.setdefault("400", error("The body is not valid JSON"))
        responses.setdefault("415", error("The body is not application/json"))
        responses.setdefault("422", error("A field is missing, unknown, of the wrong type or out of range"))
    elif any(p.get("in") == "query" for p in operation.get("parameters", [])):
        responses.setdefault("422", error("A query parameter is malformed or out of range"))
    return operation


def paths_of(routes: Iterable[Route], tag: str) -> dict[str, dict]:
    paths: dict[str, dict] = {}
    for route in routes:
        spec = getattr(type(route.resource), "openapi", {})
        if route.public and not spec:
            continue  # documentation pages and the like: not part of the API
        methods = route.scopes.keys() if not route.public else spec.keys()
        item = paths.setdefault(_PARAM.sub(r"{\1}", route.path), {})
        for method in methods:
            operation = _operation(route, method, spec.get(method, {"responses": {"200": {"description": "OK"}}}))
            item[method.lower()] = {"tags": [tag], **operation}
    return paths


def document(service_names: Iterable[str] = SERVICES) -> dict:
    """The merged document of the named services (route tables built without connections:
    only their shape is read)."""
    paths: dict[str, dict] = {"/health": {"get": {"tags": ["health"], **_HEALTH}}}
    schemas = dict(COMPONENTS["schemas"])
    for name in service_names:
        module = importlib.import_module(f"services.{name}.routes")
        paths[f"/health/{name}"] = {"get": {"tags": ["health"], **_HEALTH}}
        paths.update(paths_of(module.routes(), name))
        schemas.update(getattr(module, "SCHEMAS", {}))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Course Supporter API",
            "version": "1.0.0",
            "description": "Turns course materials into a structured course. Authenticate with the "
            "X-API-Key header; every error is JSON {title, description}.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {**COMPONENTS, "schemas": schemas},
    }
