"""The one owner of ``webhook_endpoints``: a tenant's receivers, their signing secrets, and
whether they still get deliveries. Every query takes the tenant id, except the sender's
bookkeeping of an endpoint it already holds a delivery of."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from libs.errors import Conflict, NotFound
from libs.http.pagination import PageRequest, page_of
from libs.webhooks.signing import new_secret

MAX_PER_TENANT = 20
DESCRIPTION_MAX = 500
# after a rotation, deliveries are signed with the old secret too for this long
SECRET_GRACE_SECONDS = 24 * 3600
# an endpoint whose deliveries have all failed for this long stops getting any
DISABLE_AFTER_DAYS = 3
EDITABLE = ("url", "description", "event_types", "active")

_VIEW = (
    "id, url, description, event_types, active, failing_since, disabled_at, disabled_reason,"
    " (previous_secret_expires_at > now()) IS TRUE AS rotating, created_at, updated_at"
)
_INSERT = f"""
INSERT INTO webhook_endpoints (tenant_id, url, description, event_types, active, secret)
SELECT %(tenant)s, %(url)s, %(description)s, %(types)s, %(active)s, %(secret)s
 WHERE (SELECT count(*) FROM webhook_endpoints WHERE tenant_id = %(tenant)s) < %(max)s
RETURNING {_VIEW}
"""  # noqa: S608 (constants only)
_GET = f"SELECT {_VIEW} FROM webhook_endpoints WHERE id = %(id)s AND tenant_id = %(tenant)s"  # noqa: S608
_PAGE = f"""
SELECT {_VIEW} FROM webhook_endpoints
 WHERE tenant_id = %(tenant)s
   AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s
"""  # noqa: S608 (constants only)
# One static statement for any subset of fields; turning an endpoint on again forgets why
# it was off and how long it had failed.
_UPDATE = f"""
UPDATE webhook_endpoints SET
    url = CASE WHEN %(set_url)s THEN %(url)s ELSE url END,
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
    event_types = CASE WHEN %(set_event_types)s THEN %(event_types)s ELSE event_types END,
    active = CASE WHEN %(set_active)s THEN %(active)s ELSE active END,
    failing_since = CASE WHEN %(set_active)s AND %(active)s AND NOT active THEN NULL ELSE failing_since END,
    disabled_at = CASE WHEN %(set_active)s AND %(active)s THEN NULL ELSE disabled_at END,
    disabled_reason = CASE WHEN %(set_active)s AND %(active)s THEN NULL ELSE disabled_reason END,
    updated_at = now()
WHERE id = %(id)s AND tenant_id = %(tenant)s
RETURNING {_VIEW}
"""  # noqa: S608 (constants only)
_ROTATE = """
UPDATE webhook_endpoints SET previous_secret = secret, secret = %(secret)s,
       previous_secret_expires_at = now() + make_interval(secs => %(grace)s), updated_at = now()
WHERE id = %(id)s AND tenant_id = %(tenant)s
RETURNING previous_secret_expires_at
"""
_SUCCEEDED = "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = %s AND failing_since IS NOT NULL"
# a failure starts the endpoint's failing period, or disables it once that period is long
_LONG_FAILING = "coalesce(failing_since < now() - make_interval(days => %(days)s), false)"
_FAILED = f"""
UPDATE webhook_endpoints SET
    failing_since = coalesce(failing_since, now()),
    active = NOT {_LONG_FAILING},
    disabled_at = CASE WHEN {_LONG_FAILING} THEN now() END,
    disabled_reason = CASE WHEN {_LONG_FAILING} THEN %(reason)s END,
    updated_at = now()
WHERE id = %(id)s AND active
RETURNING active
"""  # noqa: S608 (constants only)


def create(conn: psycopg.Connection, tenant_id: str, fields: dict[str, Any]) -> dict:
    """A new endpoint with its signing secret (the one time it is returned);
    :class:`Conflict` past :data:`MAX_PER_TENANT`."""
    secret = new_secret()
    params = {
        "tenant": tenant_id,
        "url": fields["url"],
        "description": fields.get("description"),
        "types": sorted(set(fields["event_types"])),
        "active": fields.get("active", True),
        "secret": secret,
        "max": MAX_PER_TENANT,
    }
    with conn.transaction():
        # one count at a time per tenant, so two creates cannot both pass the limit
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints:' || %s))", (tenant_id,))
        row = conn.cursor(row_factory=dict_row).execute(_INSERT, params).fetchone()
    if row is None:
        raise Conflict(f"A tenant has at most {MAX_PER_TENANT} webhooks; delete one first.")
    return {**row, "secret": secret}


def get(conn: psycopg.Connection, tenant_id: str, endpoint_id: str) -> dict:
    """The endpoint as the API shows it (no secret); :class:`NotFound` for another tenant's."""
    row = conn.cursor(row_factory=dict_row).execute(_GET, {"id": endpoint_id, "tenant": tenant_id}).fetchone()
    if row is None:
        raise NotFound("No webhook with this id.")
    return row


def page(conn: psycopg.Connection, tenant_id: str, request: PageRequest) -> dict:
    """The tenant's endpoints, newest first."""
    after_at, after_id = request.after or (None, None)
    params = {"tenant": tenant_id, "after_at": after_at, "after_id": after_id, "limit": request.fetch}
    rows = conn.cursor(row_factory=dict_row).execute(_PAGE, params).fetchall()
    total = conn.execute("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    return page_of(rows, request, total)


def update(conn: psycopg.Connection, tenant_id: str, endpoint_id: str, fields: dict[str, Any]) -> dict:
    """Change any of :data:`EDITABLE`; ``active: true`` re-enables a disabled endpoint."""
    params: dict[str, Any] = {"id": endpoint_id, "tenant": tenant_id}
    for name in EDITABLE:
        params[f"set_{name}"] = name in fields
        params[name] = fields.get(name)
    if params["event_types"] is not None:
        params["event_types"] = sorted(set(params["event_types"]))
    row = conn.cursor(row_factory=dict_row).execute(_UPDATE, params).fetchone()
    if row is None:
        raise NotFound("No webhook with this id.")
    return row


def rotate_secret(conn: psycopg.Connection, tenant_id: str, endpoint_id: str) -> dict:
    """A new signing secret; the old one keeps signing too for :data:`SECRET_GRACE_SECONDS`."""
    secret = new_secret()
    params = {"id": endpoint_id, "tenant": tenant_id, "secret": secret, "grace": SECRET_GRACE_SECONDS}
    row = conn.execute(_ROTATE, params).fetchone()
    if row is None:
        raise NotFound("No webhook with this id.")
    return {"secret": secret, "previous_secret_expires_at": row[0]}


def delete(conn: psycopg.Connection, tenant_id: str, endpoint_id: str) -> None:
    """Remove the endpoint with its deliveries."""
    deleted = conn.execute(
        "DELETE FROM webhook_endpoints WHERE id = %s AND tenant_id = %s", (endpoint_id, tenant_id)
    ).rowcount
    if not deleted:
        raise NotFound("No webhook with this id.")


def note_success(conn: psycopg.Connection, endpoint_id: str) -> None:
    """A delivery succeeded: the endpoint is not failing."""
    conn.execute(_SUCCEEDED, (endpoint_id,))


def note_failure(conn: psycopg.Connection, endpoint_id: str) -> bool:
    """A delivery failed: start the endpoint's failing period, or disable it when every
    delivery has failed for :data:`DISABLE_AFTER_DAYS`; whether it is disabled now."""
    reason = f"every delivery failed for {DISABLE_AFTER_DAYS} days; set active to true to send again"
    row = conn.execute(_FAILED, {"id": endpoint_id, "days": DISABLE_AFTER_DAYS, "reason": reason}).fetchone()
    return row is not None and not row[0]
