"""The auth service's route table: who the calling key is, and the API documentation."""

from __future__ import annotations

from libs.access.scopes import ALL_SCOPES, PREP_OR_CHECK
from libs.http.routing import Route
from services.auth.docs import OpenApiDocument, SwaggerAsset, SwaggerPage
from services.auth.resources import CurrentKey

SCHEMAS = {
    "CurrentKey": {
        "type": "object",
        "required": ["tenant", "key", "rate_limits"],
        "properties": {
            "tenant": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}},
            },
            "key": {
                "type": "object",
                "required": ["prefix", "label", "scopes", "expires_at"],
                "properties": {
                    "prefix": {"type": "string"},
                    "label": {"type": "string"},
                    "scopes": {"type": "array", "items": {"type": "string", "enum": list(ALL_SCOPES)}},
                    "expires_at": {"type": "string", "format": "date-time", "nullable": True},
                },
            },
            "rate_limits": {
                "type": "object",
                "required": ["prep_per_minute", "check_per_minute"],
                "properties": {"prep_per_minute": {"type": "integer"}, "check_per_minute": {"type": "integer"}},
            },
        },
    }
}


def routes() -> list[Route]:
    return [
        Route("/api/v1/auth/me", CurrentKey(), {"GET": PREP_OR_CHECK}),
        # The documentation of the whole public surface lives with the front-door service.
        Route("/openapi.json", OpenApiDocument(), public=True),
        Route("/docs", SwaggerPage(), public=True),
        Route("/docs/assets/{name}", SwaggerAsset(), public=True),
    ]
