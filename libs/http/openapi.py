"""Building the OpenAPI 3 document from route tables.

Each resource class documents its operations in an ``openapi`` mapping (method → operation:
summary, parameters, requestBody, success responses); scopes come from the route table and
the error responses every operation can give (401, 403, 404, 422, 429, …) are added here, so
the document and the code cannot drift apart. Which services make up the public surface is
not known here: the caller hands each one's routes and schemas to :func:`document`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.http.routing import Route

# method → OpenAPI operation object, as resource classes declare them
Operations = dict[str, dict[str, Any]]

ERROR = {"$ref": "#/components/schemas/Error"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationError"}


def json_content(schema: dict) -> dict:
    """A ``content`` object holding ``schema`` as ``application/json``."""
    return {"application/json": {"schema": schema}}


def error(description: str, headers: dict | None = None, *, schema: dict = ERROR) -> dict:
    """An error response: JSON ``{title, description}`` (``schema`` may name a richer one)."""
    response: dict[str, Any] = {"description": description, "content": json_content(schema)}
    if headers:
        response["headers"] = headers
    return response


def ref(name: str) -> dict:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


_PARAM = re.compile(r"\{(\w+)(?::(\w+)(?:\([^)]*\))?)?\}")  # {name}, {name:uuid}, {name:int(min=1)}
_PATH_SCHEMAS = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["title", "description"],
            "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
        },
        "ValidationError": {
            "type": "object",
            "required": ["title", "description", "errors"],
            "properties": {
                "title": {"type": "string"},
                "description": {"type": "string", "description": "Every problem, in one sentence"},
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string", "description": "Path of the field: mappings[2].video_timecode"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "checks", "timestamp"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok", "fail"]}},
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


IDEMPOTENCY_NOTE = (
    "\n\nIdempotency-Key (header, 1 to 255 printable ASCII characters, optional): a retry with the"
    " same key and the same request within 24 hours answers what the first answered (status, body,"
    " Location; header Idempotent-Replayed: true) without doing it again; another request under the"
    " key is 422, and one sent while the first is still being handled is 409."
)


def document_path(path: str) -> str:
    """A Falcon route template as the OpenAPI document writes it: ``{course_id:uuid}`` → ``{course_id}``."""
    return _PARAM.sub(r"{\1}", path)


def _operation(route: Route, method: str, spec: dict) -> dict:
    operation = copy.deepcopy(spec)
    responses = operation.setdefault("responses", {})
    parameters = operation.setdefault("parameters", [])
    declared = {p["name"] for p in parameters if p.get("in") == "path"}  # a resource may say more
    for name, converter in _PARAM.findall(route.path):
        if name in declared:
            continue
        schema = dict(_PATH_SCHEMAS.get(converter, {"type": "string"}))
        parameters.insert(0, {"name": name, "in": "path", "required": True, "schema": schema})
    if not parameters:
        del operation["parameters"]
    if not route.public:
        scopes = sorted(route.scopes[method])
        operation["security"] = [{"ApiKey": []}]
        operation["description"] = (operation.get("description", "") + f"\n\nScopes: {' or '.join(scopes)}.").strip()
        if method == "POST":
            # Said in words rather than as a header parameter: a fuzzer sending the same
            # generated key with different bodies would call its (correct) 422 a fault.
            operation["description"] += IDEMPOTENCY_NOTE
            responses.setdefault("409", error("A request with the same Idempotency-Key is still being handled"))
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
    invalid = "A field is missing, unknown, of the wrong type or out of range"
    if "requestBody" in operation:
        responses.setdefault("400", error("The body is not valid JSON"))
        responses.setdefault("413", error("The body is over the size limit"))
        responses.setdefault("415", error("The body is not application/json"))
        responses.setdefault("422", error(invalid, schema=VALIDATION_ERROR))
    elif any(p.get("in") == "query" for p in operation.get("parameters", [])):
        responses.setdefault("422", error("A query parameter is malformed or out of range", schema=VALIDATION_ERROR))
    return operation


def paths_of(routes: Iterable[Route], tag: str) -> dict[str, dict]:
    """The OpenAPI path items of ``routes``, each operation tagged with ``tag``."""
    paths: dict[str, dict] = {}
    for route in routes:
        spec = getattr(type(route.resource), "openapi", {})
        if route.public and not spec:
            continue  # documentation pages and the like: not part of the API
        methods = route.scopes.keys() if not route.public else spec.keys()
        item = paths.setdefault(document_path(route.path), {})
        for method in methods:
            operation = _operation(route, method, spec.get(method, {"responses": {"200": {"description": "OK"}}}))
            item[method.lower()] = {"tags": [tag], **operation}
    return paths


@dataclass(frozen=True)
class ServiceDocs:
    """What one service adds to the document: its routes and the schemas they reference."""

    name: str
    routes: list[Route]
    schemas: Mapping[str, Any] = field(default_factory=dict)


def document(services: Iterable[ServiceDocs]) -> dict:
    """The merged document of ``services``, each tagged with its name and with its own
    ``/health/<name>``."""
    paths: dict[str, dict] = {"/health": {"get": {"tags": ["health"], **_HEALTH}}}
    schemas = dict(COMPONENTS["schemas"])
    for service in services:
        paths[f"/health/{service.name}"] = {"get": {"tags": ["health"], **_HEALTH}}
        paths.update(paths_of(service.routes, service.name))
        schemas.update(service.schemas)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Course Supporter API",
            "version": "1.0.0",
            "description": "Turns course materials into a structured course. Authenticate with the "
            "X-API-Key header; every error is JSON {title, description}, and a 422 also lists "
            "errors: [{field, message}].",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {**COMPONENTS, "schemas": schemas},
    }
