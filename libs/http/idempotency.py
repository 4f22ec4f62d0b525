"""Idempotency keys: a ``POST`` sent again with the same ``Idempotency-Key`` gets the first
answer back (status, body, ``Location``) instead of a second course, material or paid run.

The middleware runs after authentication, for every ``POST`` that carries the header, and is
the one owner of the ``idempotency_keys`` table (migrations/0023). A key is the tenant's: two
tenants may use the same one. The first request claims the key with a fingerprint of itself
(method, path, query, and its JSON body, or for a streamed upload its length: the key is
checked before a byte of the body is read); the same key with another request is 422, and
while the first still runs, 409. A success (2xx) is kept for 24 hours and replayed with
``Idempotent-Replayed: true``; after a failure the claim is dropped, so the client may try
again with the same key. A claim whose request died lapses after CLAIM_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import falcon
from psycopg_pool import ConnectionPool

from libs.errors import Conflict, Invalid

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEEP_HOURS = 24
# How long a first request holds its key against retries: longer than any request but a slow
# upload runs. A claim left by a request that died lapses then, and a retry may go ahead.
CLAIM_SECONDS = 3600

_CLAIM = """
INSERT INTO idempotency_keys (tenant_id, key, request_hash, claimed_until)
VALUES (%(tenant)s, %(key)s, %(hash)s, now() + make_interval(secs => %(claim)s))
ON CONFLICT (tenant_id, key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, claimed_until = EXCLUDED.claimed_until, status = NULL,
       content_type = NULL, location = NULL, body = NULL, created_at = now()
 WHERE idempotency_keys.created_at < now() - make_interval(hours => %(keep)s)
    OR (idempotency_keys.status IS NULL AND idempotency_keys.claimed_until < now()
        AND idempotency_keys.request_hash = EXCLUDED.request_hash)
RETURNING true
"""
_FIND = (
    "SELECT request_hash, status, content_type, location, body FROM idempotency_keys WHERE tenant_id = %s AND key = %s"
)
_KEEP = """UPDATE idempotency_keys SET status = %s, content_type = %s, location = %s, body = %s
            WHERE tenant_id = %s AND key = %s"""
_DROP = "DELETE FROM idempotency_keys WHERE tenant_id = %s AND key = %s AND status IS NULL"
_EXPIRED = "DELETE FROM idempotency_keys WHERE tenant_id = %s AND created_at < now() - make_interval(hours => %s)"


def _fingerprint(req: falcon.Request) -> str:
    parts = [req.method, req.path, req.query_string or ""]
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/"):
        parts.append(f"{content_type}:{req.content_length}")  # the body is not read here
    elif req.content_length:
        media = req.get_media()  # parsed once: the resource gets the same, cached
        parts.append(json.dumps(media, sort_keys=True, separators=(",", ":")))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _key(req: falcon.Request) -> str | None:
    key = req.get_header(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise Invalid(
            f"{HEADER}: must be 1 to {MAX_KEY_LENGTH} printable ASCII characters (a UUID is a good one)",
            field=HEADER,
        )
    return key


class Idempotency:
    """Falcon middleware; see the module docstring."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict) -> None:
        if req.method != "POST" or resource is None or getattr(req.context, "principal", None) is None:
            return
        key = _key(req)
        if key is None:
            return
        try:
            request_hash = _fingerprint(req)
        except falcon.HTTPError:
            return  # a body that is not JSON: the resource answers it (400), nothing to keep
        tenant = req.context.principal.tenant_id
        params_ = {"tenant": tenant, "key": key, "hash": request_hash, "claim": CLAIM_SECONDS, "keep": KEEP_HOURS}
        with self._pool.connection() as conn:
            conn.execute(_EXPIRED, (tenant, KEEP_HOURS))
            if conn.execute(_CLAIM, params_).fetchone():
                req.context.idempotency = (tenant, key)
                return
            row = conn.execute(_FIND, (tenant, key)).fetchone()
        if row is None:  # gone between the two statements (dropped after a failure): claim afresh
            return self.process_resource(req, resp, resource, params)
        stored_hash, status, content_type, location, body = row
        if stored_hash != request_hash:
            raise Invalid(
                f"{HEADER}: this key was used with another request (method, path or body); use a new key",
                field=HEADER,
            )
        if status is None:
            raise Conflict("A request with this Idempotency-Key is still being handled; retry once it has answered.")
        _replay(resp, status, content_type, location, body)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        claim = getattr(req.context, "idempotency", None)
        if claim is None:
            return
        tenant, key = claim
        with self._pool.connection() as conn:
            if req_succeeded and 200 <= resp.status_code < 300:
                body = resp.render_body()
                conn.execute(_KEEP, (resp.status_code, resp.content_type, resp.location, body, tenant, key))
            else:
                conn.execute(_DROP, (tenant, key))


def _replay(resp: falcon.Response, status: int, content_type: str | None, location: str | None, body: Any) -> None:
    resp.status = status
    if content_type:
        resp.content_type = content_type
    if location:
        resp.location = location
    resp.data = bytes(body) if body is not None else b""
    resp.set_header("Idempotent-Replayed", "true")
    resp.complete = True  # the responder does not run
