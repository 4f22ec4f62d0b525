"""Tenants and API keys in SQL: what the admin CLI does to the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
import redis
from psycopg import errors as pg_errors

from libs.access.apikeys import NewKey, generate_key
from libs.access.keycache import TTL_SECONDS as CACHE_TTL_SECONDS
from libs.access.keycache import invalidate_cached_keys
from libs.errors import Conflict, Invalid, NotFound
from libs.llm import budget
from libs.store import storage_usage

log = logging.getLogger(__name__)

KEY_PREFIX_MIN = len("cs_live_") + 4


@dataclass(frozen=True)
class TenantSummary:
    name: str
    is_active: bool
    created_at: datetime
    active_keys: int
    total_keys: int


@dataclass(frozen=True)
class KeySummary:
    prefix: str
    label: str
    scopes: list[str]
    rate_limit_prep: int
    rate_limit_check: int
    status: str
    expires_at: datetime | None
    created_at: datetime


def _tenant_id(conn: psycopg.Connection, name: str) -> str:
    row = conn.execute("SELECT id FROM tenants WHERE lower(name) = lower(%s)", (name,)).fetchone()
    if row is None:
        raise NotFound(f"unknown tenant {name!r}")
    return row[0]


def create_tenant(conn: psycopg.Connection, name: str) -> str:
    """Create the tenant; return its id."""
    try:
        with conn.transaction():
            row = conn.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id", (name,)).fetchone()
    except pg_errors.UniqueViolation:
        raise Conflict(f"tenant {name!r} already exists") from None
    return str(row[0])


def create_key(
    conn: psycopg.Connection,
    *,
    tenant: str,
    scopes: tuple[str, ...],
    label: str,
    rate_prep: int,
    rate_check: int,
    expires_in_days: int | None,
    test: bool = False,
) -> NewKey:
    tenant_id = _tenant_id(conn, tenant)
    active = conn.execute("SELECT is_active FROM tenants WHERE id = %s", (tenant_id,)).fetchone()[0]
    if not active:
        raise Invalid(f"tenant {tenant!r} is deactivated")
    # A prefix clash is astronomically rare, but the unique index makes it an error rather
    # than an ambiguity, and a fresh key resolves it.
    for _ in range(3):
        key = generate_key(test=test)
        try:
            with conn.transaction():
                conn.execute(
                    """
                    INSERT INTO api_keys (tenant_id, key_hash, key_prefix, label, scopes,
                                          rate_limit_prep, rate_limit_check, expires_at)
                    VALUES (%s, %s, %s, %s, %s, %s, %s,
                            CASE WHEN %s::int IS NULL THEN NULL
                                 ELSE now() + make_interval(days => %s::int) END)
                    """,
                    (
                        tenant_id,
                        key.digest,
                        key.prefix,
                        label,
                        list(scopes),
                        rate_prep,
                        rate_check,
                        expires_in_days,
                        expires_in_days,
                    ),
                )
            return key
        except pg_errors.UniqueViolation:
            continue
    raise Conflict("could not allocate a unique key prefix; try again")


def list_tenants(conn: psycopg.Connection) -> list[TenantSummary]:
    rows = conn.execute(
        """
        SELECT t.name, t.is_active, t.created_at,
               count(k.id) FILTER (WHERE k.revoked_at IS NULL
                                     AND (k.expires_at IS NULL OR k.expires_at > now())),
               count(k.id)
          FROM tenants t LEFT JOIN api_keys k ON k.tenant_id = t.id
         GROUP BY t.id ORDER BY lower(t.name)
        """
    ).fetchall()
    return [TenantSummary(*row) for row in rows]


def list_keys(conn: psycopg.Connection, tenant: str) -> list[KeySummary]:
    tenant_id = _tenant_id(conn, tenant)
    rows = conn.execute(
        """
        SELECT key_prefix, label, scopes, rate_limit_prep, rate_limit_check,
               CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                    WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'
                    ELSE 'active' END,
               expires_at, created_at
          FROM api_keys WHERE tenant_id = %s ORDER BY created_at, key_prefix
        """,
        (tenant_id,),
    ).fetchall()
    return [KeySummary(*row) for row in rows]


def revoke_key(conn: psycopg.Connection, redis_client: redis.Redis, prefix: str) -> str:
    """Revoke the one key whose display prefix starts with ``prefix``, and make every service
    drop the keys it has cached (:func:`forget_cached_keys`); return its prefix."""
    if len(prefix) < KEY_PREFIX_MIN or not prefix.startswith(("cs_live_", "cs_test_")):
        raise Invalid(f"prefix {prefix!r} is too short: give at least cs_live_ and 4 more characters")
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, key_prefix, revoked_at FROM api_keys WHERE key_prefix LIKE %s FOR UPDATE",
            (pattern,),
        ).fetchall()
        if not rows:
            raise NotFound(f"no key has the prefix {prefix!r}")
        if len(rows) > 1:
            raise Conflict(f"prefix {prefix!r} is ambiguous: it matches {len(rows)} keys; give more characters")
        key_id, full_prefix, revoked_at = rows[0]
        if revoked_at is not None:
            raise Conflict(f"key {full_prefix} is already revoked")
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key_id,))
    forget_cached_keys(redis_client)
    return full_prefix


def deactivate_tenant(conn: psycopg.Connection, redis_client: redis.Redis, name: str) -> None:
    """Deactivate the tenant: every key of it stops working at once (the services' caches are
    told, :func:`forget_cached_keys`)."""
    tenant_id = _tenant_id(conn, name)
    with conn.transaction():
        updated = conn.execute(
            "UPDATE tenants SET is_active = false WHERE id = %s AND is_active", (tenant_id,)
        ).rowcount
    if not updated:
        raise Conflict(f"tenant {name!r} is already deactivated")
    forget_cached_keys(redis_client)


def forget_cached_keys(redis_client: redis.Redis) -> bool:
    """After a key or tenant stopped working (committed): tell every service to drop the keys
    it has cached, so the change holds on the next request. Whether Redis could be told; when
    not, the change stands all the same and cached keys lapse within their TTL (logged)."""
    try:
        invalidate_cached_keys(redis_client)
    except redis.RedisError as exc:
        log.warning(
            "could not reach Redis to tell the services at once (%s); they stop accepting the key within %.0f s",
            exc,
            CACHE_TTL_SECONDS,
        )
        return False
    return True


def set_llm_budget(conn: psycopg.Connection, name: str, usd: Decimal | None) -> None:
    """Set the tenant's monthly LLM budget in USD (0: none; None: the setting's default)."""
    budget.set_limit(conn, _tenant_id(conn, name), usd)


def set_storage_quota(conn: psycopg.Connection, name: str, size: int | None) -> None:
    """Set the tenant's storage quota in bytes (0: unlimited; None: the setting's default)."""
    storage_usage.set_quota(conn, _tenant_id(conn, name), size)
