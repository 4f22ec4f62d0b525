"""Authenticating an ``X-API-Key`` against the database.

Every service does this itself (no trust in gateway headers).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from libs.access.apikeys import hash_key, looks_like_key


@dataclass(frozen=True)
class Principal:
    """The tenant and key behind a request."""

    tenant_id: str
    tenant_name: str
    key_id: str
    key_prefix: str
    label: str
    scopes: frozenset[str]
    rate_limits: dict[str, int]
    expires_at: str | None


def tenant_of(req: object) -> str:
    """The tenant of an authenticated request (its principal, which the access middleware set):
    the explicit tenant id every resource passes to its queries."""
    return req.context.principal.tenant_id


class Unauthenticated(Exception):
    """The key is missing, unknown, revoked or expired, or its tenant is inactive."""


_FIND_KEY = """
SELECT k.id, k.key_prefix, k.label, k.scopes, k.rate_limit_prep, k.rate_limit_check,
       k.expires_at, k.revoked_at IS NOT NULL, k.expires_at IS NOT NULL AND k.expires_at <= now(),
       t.id, t.name, t.is_active
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
 WHERE k.key_hash = %s
"""


class Authenticator:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthenticated("Missing API key: send it in the X-API-Key header.")
        if not looks_like_key(secret):
            raise Unauthenticated("Invalid API key.")
        with self._pool.connection() as conn:
            row = conn.execute(_FIND_KEY, (hash_key(secret),)).fetchone()
        if row is None:
            raise Unauthenticated("Invalid API key.")
        (
            key_id,
            prefix,
            label,
            scopes,
            rate_prep,
            rate_check,
            expires_at,
            revoked,
            expired,
            tenant_id,
            tenant_name,
            tenant_active,
        ) = row
        if revoked:
            raise Unauthenticated("This API key has been revoked.")
        if expired:
            raise Unauthenticated("This API key has expired.")
        if not tenant_active:
            raise Unauthenticated("This API key's tenant is deactivated.")
        return Principal(
            tenant_id=str(tenant_id),
            tenant_name=tenant_name,
            key_id=str(key_id),
            key_prefix=prefix,
            label=label,
            scopes=frozenset(scopes),
            rate_limits={"prep": rate_prep, "check": rate_check},
            expires_at=expires_at.isoformat() if expires_at else None,
        )
