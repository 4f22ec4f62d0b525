"""The one owner of ``webhook_events``: what happened for a tenant, written in the transaction
that made it happen, with one delivery per endpoint that asked for its type. Nothing is
written when no endpoint wants the event, so a tenant without webhooks pays one indexed read."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg

# The table's CHECK (migrations/0024) allows exactly these.
EVENT_TYPES = (
    "material.processed",
    "material.failed",
    "structure.succeeded",
    "structure.failed",
    "submission.graded",
    "submission.failed",
    "upload.completed",
)
# A delivery is retried (timeouts, connection errors, 5xx) until this long after its event.
RETRY_WINDOW_SECONDS = 24 * 3600

_EMIT = """
WITH wanted AS (
    SELECT id FROM webhook_endpoints
     WHERE tenant_id = %(tenant)s AND active AND %(type)s = ANY(event_types)
), event AS (
    INSERT INTO webhook_events (id, tenant_id, type, resource, body, created_at)
    SELECT %(id)s, %(tenant)s, %(type)s, %(resource)s, %(body)s, %(at)s
     WHERE EXISTS (SELECT 1 FROM wanted)
    RETURNING id
)
INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, resource, retry_until)
SELECT %(tenant)s, wanted.id, event.id, %(resource)s, now() + make_interval(secs => %(window)s)
  FROM wanted CROSS JOIN event
"""


def emit(conn: psycopg.Connection, tenant_id: str, event_type: str, *, about: str, data: dict) -> int:
    """Record an event of the tenant for every active endpoint subscribed to ``event_type``
    and return how many deliveries it made. ``about`` names the resource (``material:<id>``):
    an endpoint receives one resource's events in the order they happened. ``data`` holds the
    tenant's own ids and the job's summary, never provider text: it is sent as it is. Call it
    inside the transaction that writes what it reports."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event_id = str(uuid.uuid4())
    at = datetime.now(UTC)
    body = {"id": event_id, "type": event_type, "timestamp": at.isoformat(), "data": data}
    params = {
        "id": event_id,
        "tenant": tenant_id,
        "type": event_type,
        "resource": about,
        "body": json.dumps(body, separators=(",", ":"), default=str),
        "at": at,
        "window": RETRY_WINDOW_SECONDS,
    }
    return conn.execute(_EMIT, params).rowcount


def prune(conn: psycopg.Connection, *, older_than_days: int) -> int:
    """Delete events (with their deliveries) older than that many days; how many went."""
    return conn.execute(
        "DELETE FROM webhook_events WHERE created_at < now() - make_interval(days => %s)", (older_than_days,)
    ).rowcount
