"""The one owner of ``webhook_deliveries``: one event on its way to one endpoint. A sender
claims a due delivery with ``SKIP LOCKED`` (one in flight per endpoint, and a resource's
events in the order they happened), then records how the attempt went."""

from __future__ import annotations

import random
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from libs.errors import Conflict, NotFound
from libs.http.pagination import PageRequest, page_of

STATUSES = ("pending", "sending", "delivered", "failed")  # the table's CHECK
# Retry n waits BASE · 3^(n-1) seconds, at most CAP, each ±20 % (jitter): 10 s, 30 s, 1.5 min,
# … 6 h; the last one comes after the event's retry window (events.RETRY_WINDOW_SECONDS) ended.
RETRY_BASE_SECONDS = 10.0
RETRY_CAP_SECONDS = 6 * 3600.0

_CLAIM = """
UPDATE webhook_deliveries d
   SET status = 'sending', attempts = d.attempts + 1, last_attempt_at = now(),
       next_attempt_at = now() + make_interval(secs => %(lease)s)
  FROM webhook_endpoints e, webhook_events ev
 WHERE d.id = (
        SELECT c.id FROM webhook_deliveries c JOIN webhook_endpoints ce ON ce.id = c.endpoint_id
         WHERE c.status IN ('pending', 'sending') AND c.next_attempt_at <= now() AND ce.active
           -- one delivery in flight per endpoint: a slow receiver holds one sender, not all
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries s
                            WHERE s.endpoint_id = c.endpoint_id AND s.status = 'sending'
                              AND s.next_attempt_at > now())
           -- a resource's earlier event first
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                            WHERE p.endpoint_id = c.endpoint_id AND p.resource = c.resource
                              AND p.seq < c.seq AND p.status IN ('pending', 'sending'))
         ORDER BY c.next_attempt_at, c.seq
         LIMIT 1
         FOR UPDATE OF c SKIP LOCKED)
   AND e.id = d.endpoint_id AND ev.id = d.event_id
RETURNING d.id, d.tenant_id, d.endpoint_id, d.attempts, e.url, e.secret,
          CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END, ev.id, ev.type, ev.body
"""
# the attempt's claim still holds (a sender whose claim lapsed and was taken over writes nothing)
_OURS = "id = %(id)s AND status = 'sending' AND attempts = %(attempts)s"
_DELIVERED = f"""
UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status_code = %(code)s,
       last_error = NULL
 WHERE {_OURS}
"""  # noqa: S608 (constants only)
_FAILED = f"""
UPDATE webhook_deliveries SET
    status = CASE WHEN %(retry)s AND now() < retry_until THEN 'pending' ELSE 'failed' END,
    next_attempt_at = now() + make_interval(secs => %(delay)s),
    last_status_code = %(code)s, last_error = %(error)s
 WHERE {_OURS}
RETURNING status
"""  # noqa: S608 (constants only)
_VIEW = (
    "d.id, d.event_id, ev.type AS event_type, d.status, d.attempts, d.last_attempt_at, d.last_status_code,"
    " d.last_error, d.next_attempt_at, d.delivered_at, d.created_at, ev.body::jsonb AS event"
)
_PAGE = f"""
SELECT {_VIEW} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
 WHERE d.endpoint_id = %(endpoint)s AND d.tenant_id = %(tenant)s
   AND (%(after_at)s::timestamptz IS NULL OR (d.created_at, d.id) < (%(after_at)s, %(after_id)s::uuid))
 ORDER BY d.created_at DESC, d.id DESC LIMIT %(limit)s
"""  # noqa: S608 (constants only)
_REDELIVER = f"""
UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(),
       retry_until = now() + make_interval(secs => %(window)s)
  FROM webhook_events ev
 WHERE d.id = %(id)s AND d.endpoint_id = %(endpoint)s AND d.tenant_id = %(tenant)s AND ev.id = d.event_id
   AND d.status <> 'sending'
RETURNING {_VIEW}
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery with what sending it takes."""

    id: str
    tenant_id: str
    endpoint_id: str
    attempts: int
    url: str
    secrets: list[str]  # the endpoint's secret, then the previous one during a rotation
    event_id: str
    event_type: str
    body: bytes


def claim(conn: psycopg.Connection, lease_seconds: float) -> Delivery | None:
    """The most overdue delivery a sender may send now, held for ``lease_seconds``."""
    row = conn.execute(_CLAIM, {"lease": lease_seconds}).fetchone()
    if row is None:
        return None
    id_, tenant, endpoint, attempts, url, secret, previous, event_id, event_type, body = row
    return Delivery(
        str(id_),
        str(tenant),
        str(endpoint),
        attempts,
        url,
        [secret, *([previous] if previous else [])],
        str(event_id),
        event_type,
        body.encode(),
    )


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones."""
    delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 3 ** max(0, attempts - 1))
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not secrecy)


def delivered(conn: psycopg.Connection, delivery: Delivery, status_code: int) -> bool:
    """Record the receiver's 2xx; ``False`` (nothing written) if the claim lapsed."""
    params = {"id": delivery.id, "attempts": delivery.attempts, "code": status_code}
    return conn.execute(_DELIVERED, params).rowcount == 1


def attempt_failed(
    conn: psycopg.Connection, delivery: Delivery, *, error: str, status_code: int | None, retry: bool
) -> str | None:
    """Record a failed attempt: ``'pending'`` again after a backoff when ``retry`` and the
    retry window lasts, else ``'failed'``; ``None`` if the claim lapsed."""
    params = {
        "id": delivery.id,
        "attempts": delivery.attempts,
        "retry": retry,
        "delay": retry_delay(delivery.attempts),
        "code": status_code,
        "error": error,
    }
    row = conn.execute(_FAILED, params).fetchone()
    return None if row is None else row[0]


def page(conn: psycopg.Connection, tenant_id: str, endpoint_id: str, request: PageRequest) -> dict:
    """The endpoint's deliveries, newest first; :class:`NotFound` unless the endpoint is the
    tenant's (checked by the caller in the same transaction)."""
    after_at, after_id = request.after or (None, None)
    params = {
        "tenant": tenant_id,
        "endpoint": endpoint_id,
        "after_at": after_at,
        "after_id": after_id,
        "limit": request.fetch,
    }
    rows = conn.cursor(row_factory=dict_row).execute(_PAGE, params).fetchall()
    total = conn.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s AND tenant_id = %s", (endpoint_id, tenant_id)
    ).fetchone()[0]
    return page_of(rows, request, total)


def redeliver(conn: psycopg.Connection, tenant_id: str, endpoint_id: str, delivery_id: str, window: float) -> dict:
    """Send a delivery again now (same event id, a fresh retry window); :class:`Conflict`
    while an attempt of it is in flight, :class:`NotFound` for another endpoint's."""
    params = {"id": delivery_id, "endpoint": endpoint_id, "tenant": tenant_id, "window": window}
    row = conn.cursor(row_factory=dict_row).execute(_REDELIVER, params).fetchone()
    if row is not None:
        return row
    exists = conn.execute(
        "SELECT 1 FROM webhook_deliveries WHERE id = %s AND endpoint_id = %s AND tenant_id = %s",
        (delivery_id, endpoint_id, tenant_id),
    ).fetchone()
    if exists is None:
        raise NotFound("No delivery with this id for this webhook.")
    raise Conflict("This delivery is being sent now; ask again once the attempt has ended.")
