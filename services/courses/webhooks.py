"""The tenant's webhooks: ``/api/v1/webhooks[/{id}]``, the secret's rotation, and the
deliveries with their redelivery. The URL is checked (and its name resolved) at registration
and again before each delivery by the sender (libs/webhooks/sender.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import falcon
from psycopg_pool import ConnectionPool

from libs.access.auth import tenant_of
from libs.access.scopes import PREP_ONLY
from libs.errors import Conflict
from libs.http.openapi import Operations, json_content, ref
from libs.http.pagination import PARAMETERS as PAGE_PARAMETERS
from libs.http.pagination import page_request, page_schema
from libs.http.routing import API_PREFIX, Route
from libs.http.validation import Array, Boolean, Choice, Object, Text, json_body, validate
from libs.sources.pinned_http import Resolver
from libs.sources.urlpolicy import MAX_URL
from libs.webhooks import deliveries, destination, endpoints, events

WEBHOOKS = API_PREFIX + "/webhooks"
WEBHOOK_INPUT = Object(
    {
        "url": Text(
            max_length=MAX_URL,
            min_length=1,
            required=True,
            pattern=r"[hH][tT][tT][pP][sS]?://\S+",
            pattern_hint="an https URL",
            format="webhook-url",
            description="Where deliveries are POSTed: HTTPS to a public host",
        ),
        "event_types": Array(
            Choice(events.EVENT_TYPES), min_items=1, max_items=len(events.EVENT_TYPES), unique=True, required=True
        ),
        "description": Text(max_length=endpoints.DESCRIPTION_MAX, nullable=True),
        "active": Boolean(description="Whether it gets deliveries; true again re-enables a disabled one"),
    }
)
assert set(WEBHOOK_INPUT.fields) == set(endpoints.EDITABLE)
WEBHOOK_PATCH = Object(WEBHOOK_INPUT.fields, min_properties=1)

_UUID = {"type": "string", "format": "uuid"}
_TS = {"type": "string", "format": "date-time"}
_NTS = {**_TS, "nullable": True}
_NS = {"type": "string", "nullable": True}
_TYPES = {"type": "array", "items": {"type": "string", "enum": list(events.EVENT_TYPES)}}
WEBHOOK_FIELDS: dict[str, Any] = {
    "id": _UUID,
    "url": {"type": "string"},
    "description": _NS,
    "event_types": _TYPES,
    "active": {"type": "boolean"},
    "failing_since": {**_NTS, "description": "The first failed delivery since the last that succeeded"},
    "disabled_at": _NTS,
    "disabled_reason": _NS,
    "rotating": {"type": "boolean", "description": "The previous secret signs deliveries too, for a while"},
    "created_at": _TS,
    "updated_at": _TS,
}
_SECRET = {"type": "string", "description": "The signing secret (whsec_…): shown this once"}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


SCHEMAS = {
    "WebhookInput": WEBHOOK_INPUT.schema(),
    "WebhookPatch": WEBHOOK_PATCH.schema(require=False),
    "Webhook": _obj(WEBHOOK_FIELDS),
    "NewWebhook": _obj({**WEBHOOK_FIELDS, "secret": _SECRET}),
    "WebhookPage": page_schema(ref("Webhook")),
    "WebhookDeliveryPage": page_schema(ref("WebhookDelivery")),
    "WebhookSecret": _obj({"secret": _SECRET, "previous_secret_expires_at": _TS}),
    "WebhookDelivery": _obj(
        {
            "id": _UUID,
            "event_id": {**_UUID, "description": "Sent as webhook-id, the same on every attempt"},
            "event_type": {"type": "string", "enum": list(events.EVENT_TYPES)},
            "status": {"type": "string", "enum": list(deliveries.STATUSES)},
            "attempts": {"type": "integer", "minimum": 0},
            "last_attempt_at": _NTS,
            "last_status_code": {"type": "integer", "nullable": True},
            "last_error": _NS,
            "next_attempt_at": _TS,
            "delivered_at": _NTS,
            "created_at": _TS,
            "event": {"type": "object", "description": "The body sent"},
        }
    ),
}


class WebhookCollection:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Register a webhook; its signing secret is in this answer only",
            "requestBody": {"required": True, "content": json_content(ref("WebhookInput"))},
            "responses": {"201": {"description": "The webhook", "content": json_content(ref("NewWebhook"))}},
        },
        "GET": {
            "summary": "The tenant's webhooks, newest first",
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "One page", "content": json_content(ref("WebhookPage"))}},
        },
    }

    def __init__(self, pool: ConnectionPool | None, check_url: Callable[[str], str]) -> None:
        self._pool = pool
        self._check_url = check_url  # destination.check_registration with this stack's rules

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = validate(json_body(req), WEBHOOK_INPUT)
        fields["url"] = self._check_url(fields["url"])
        with self._pool.connection() as conn:
            webhook = endpoints.create(conn, tenant_of(req), fields)
        resp.status = falcon.HTTP_201
        resp.location = f"{WEBHOOKS}/{webhook['id']}"
        resp.media = webhook

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = page_request(req)
        with self._pool.connection() as conn:
            resp.media = endpoints.page(conn, tenant_of(req), request)


class WebhookItem:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "A webhook, and whether it was disabled for failing",
            "responses": {"200": {"description": "The webhook", "content": json_content(ref("Webhook"))}},
        },
        "PATCH": {
            "summary": "Change the URL, event types, description or active flag",
            "requestBody": {"required": True, "content": json_content(ref("WebhookPatch"))},
            "responses": {"200": {"description": "The webhook", "content": json_content(ref("Webhook"))}},
        },
        "DELETE": {
            "summary": "Remove the webhook with its deliveries",
            "responses": {"204": {"description": "Removed"}},
        },
    }

    def __init__(self, pool: ConnectionPool | None, check_url: Callable[[str], str]) -> None:
        self._pool = pool
        self._check_url = check_url  # destination.check_registration with this stack's rules

    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: object) -> None:
        with self._pool.connection() as conn:
            resp.media = endpoints.get(conn, tenant_of(req), str(webhook_id))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, webhook_id: object) -> None:
        fields = validate(json_body(req), WEBHOOK_PATCH, require=False)
        if "url" in fields:
            fields["url"] = self._check_url(fields["url"])
        with self._pool.connection() as conn:
            resp.media = endpoints.update(conn, tenant_of(req), str(webhook_id), fields)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook_id: object) -> None:
        with self._pool.connection() as conn:
            endpoints.delete(conn, tenant_of(req), str(webhook_id))
        resp.status = falcon.HTTP_204


class WebhookSecretRotation:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "A new signing secret; the old one signs too for 24 hours",
            "responses": {"200": {"description": "The new secret", "content": json_content(ref("WebhookSecret"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: object) -> None:
        with self._pool.connection() as conn:
            resp.media = endpoints.rotate_secret(conn, tenant_of(req), str(webhook_id))


class WebhookDeliveries:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The webhook's deliveries, newest first: status, attempts, last answer",
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "One page", "content": json_content(ref("WebhookDeliveryPage"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: object) -> None:
        request = page_request(req)
        tenant = tenant_of(req)
        with self._pool.connection() as conn:
            endpoints.get(conn, tenant, str(webhook_id))  # 404 for another tenant's
            resp.media = deliveries.page(conn, tenant, str(webhook_id), request)


class WebhookRedelivery:
    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Send a delivery again now (the same event id), with a fresh day of retries",
            "responses": {
                "202": {"description": "Due again", "content": json_content(ref("WebhookDelivery"))},
                "409": {"description": "An attempt is in flight, or the webhook is disabled"},
            },
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: object, delivery_id: object) -> None:
        tenant = tenant_of(req)
        with self._pool.connection() as conn, conn.transaction():
            if not endpoints.get(conn, tenant, str(webhook_id))["active"]:
                raise Conflict("The webhook is not active; set active to true first, then redeliver.")
            resp.media = deliveries.redeliver(
                conn, tenant, str(webhook_id), str(delivery_id), events.RETRY_WINDOW_SECONDS
            )
        resp.status = falcon.HTTP_202


def routes(pool: ConnectionPool | None, *, allow_private: bool, resolver: Resolver) -> list[Route]:
    """The webhook routes; prep scope, like every other setting-up of a tenant."""
    item = WEBHOOKS + "/{webhook_id:uuid}"
    check_url = functools.partial(destination.check_registration, allow_private=allow_private, resolver=resolver)
    return [
        Route(WEBHOOKS, WebhookCollection(pool, check_url), {"POST": PREP_ONLY, "GET": PREP_ONLY}),
        Route(item, WebhookItem(pool, check_url), {"GET": PREP_ONLY, "PATCH": PREP_ONLY, "DELETE": PREP_ONLY}),
        Route(item + "/rotate-secret", WebhookSecretRotation(pool), {"POST": PREP_ONLY}),
        Route(item + "/deliveries", WebhookDeliveries(pool), {"GET": PREP_ONLY}),
        Route(item + "/deliveries/{delivery_id:uuid}/redeliver", WebhookRedelivery(pool), {"POST": PREP_ONLY}),
    ]
