"""Per-request middleware of every service: request id + access log, CORS, auth + rate limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping

import falcon

from libs.access.apikeys import hash_key
from libs.access.auth import Authenticator, Principal, Unauthenticated
from libs.access.keycache import KeyCache
from libs.access.ratelimit import Decision, RateLimiter
from libs.access.scopes import bucket_scope
from libs.platform.log import request_id_var
from libs.platform.settings import Settings

access_log = logging.getLogger("access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContext:
    """Accepts a sane ``X-Request-ID`` (nginx sets one) or makes one, echoes it, and writes
    one access line per request."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        incoming = req.get_header("X-Request-ID") or ""
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.started = time.perf_counter()
        req.context.principal = None
        request_id_var.set(request_id)
        resp.set_header("X-Request-ID", request_id)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        principal = getattr(req.context, "principal", None)
        started = getattr(req.context, "started", time.perf_counter())
        access_log.info(
            "request",
            extra={
                "method": req.method,
                "path": req.path,
                "status": int(resp.status_code),
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "tenant": principal.tenant_name if principal else None,
            },
        )
        request_id_var.set(None)


class Cors:
    """CORS from the ``CORS_*`` settings; answers preflights before auth runs."""

    def __init__(self, settings: Settings) -> None:
        self._origins = set(settings.cors_allowed_origins)
        self._any_origin = "*" in self._origins
        self._credentials = settings.cors_allow_credentials
        self._methods = ", ".join(settings.cors_allowed_methods)
        self._headers = ", ".join(settings.cors_allowed_headers)

    def _allowed_origin(self, req: falcon.Request) -> str | None:
        origin = req.get_header("Origin")
        if origin and (self._any_origin or origin in self._origins):
            return origin
        return None

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        is_preflight = req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method")
        if not is_preflight:
            return
        origin = self._allowed_origin(req)
        resp.status = falcon.HTTP_204
        resp.complete = True
        if origin:
            resp.set_header("Access-Control-Allow-Methods", self._methods)
            resp.set_header("Access-Control-Allow-Headers", self._headers)
            resp.set_header("Access-Control-Max-Age", "600")

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        origin = self._allowed_origin(req)
        if origin is None:
            return
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.append_header("Vary", "Origin")
        resp.set_header("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, ETag")
        if self._credentials:
            resp.set_header("Access-Control-Allow-Credentials", "true")


def _unauthorized(exc: Unauthenticated) -> falcon.HTTPUnauthorized:
    return falcon.HTTPUnauthorized(title="Unauthorized", description=str(exc), challenges=['ApiKey header="X-API-Key"'])


def _forbidden(allowed: frozenset[str]) -> falcon.HTTPForbidden:
    return falcon.HTTPForbidden(
        title="Forbidden",
        description=f"This API key lacks the scope this endpoint needs: {' or '.join(sorted(allowed))}.",
    )


class AccessControl:
    """Authenticates the key, checks the route's scope, then spends a rate-limit token.

    ``route_scopes`` maps ``(uri_template, method)`` to the scopes a route declares; what is
    absent from it is public (the app factory makes sure every responder of a protected route
    is in it, so the rest are Falcon's own 405 and OPTIONS answers).

    A key found in the :class:`KeyCache` costs no database query: the token is spent together
    with a check of the epoch it was cached under, and when that epoch is stale (or Redis
    cannot vouch for it) nothing is spent and the key is authenticated again before its scopes
    and limits are used.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        keys: KeyCache,
        route_scopes: Mapping[tuple[str, str], frozenset[str]],
    ) -> None:
        self._authenticator = authenticator
        self._limiter = limiter
        self._keys = keys
        self._route_scopes = route_scopes

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict) -> None:
        allowed = self._route_scopes.get((req.uri_template, req.method))
        if resource is None or allowed is None:
            return  # public, or not served here (Falcon answers 404 or 405)
        secret = req.get_header("X-API-Key")
        digest = hash_key(secret) if secret else ""
        decision: Decision | None = None
        cached = self._keys.get(digest)
        if cached is None:
            # The epoch is read before the database: a revocation in between leaves the entry
            # under an old epoch, so the next request looks the key up again.
            epoch = self._keys.current_epoch()
        elif not allowed & cached.principal.scopes:
            # The scopes may have been widened since: a 403 only on the current epoch's word
            # (a rare answer, so the extra round trip does not matter).
            epoch = self._keys.current_epoch()
            if epoch == cached.epoch:
                req.context.principal = cached.principal
                raise _forbidden(allowed)
        else:
            decision = self._spend(allowed, cached.principal, epoch=cached.epoch)
            if not decision.stale and decision.auth_epoch is not None:
                req.context.principal = cached.principal
                self._enforce(decision, allowed, cached.principal)
                return
            # Revoked, deactivated or changed since it was cached, or Redis is away and cannot
            # vouch for it. The script read this epoch before the database is asked below.
            epoch = decision.auth_epoch
        if cached is not None:
            self._keys.drop(digest)
        principal = self._authenticate(secret)
        if epoch is not None:
            self._keys.put(digest, principal, epoch)
        req.context.principal = principal
        if not allowed & principal.scopes:
            raise _forbidden(allowed)
        if decision is None or decision.stale:
            decision = self._spend(allowed, principal)
        # else Redis failed this very request and the limiter failed open: not asked twice
        self._enforce(decision, allowed, principal)

    def _spend(self, allowed: frozenset[str], principal: Principal, *, epoch: str | None = None) -> Decision:
        scope = bucket_scope(allowed, principal.scopes)
        return self._limiter.hit(principal.tenant_id, scope, principal.rate_limits[scope], epoch=epoch)

    def _enforce(self, decision: Decision, allowed: frozenset[str], principal: Principal) -> None:
        if decision.allowed:
            return
        scope = bucket_scope(allowed, principal.scopes)
        raise falcon.HTTPTooManyRequests(
            title="Too many requests",
            description=f"The {scope} rate limit of {principal.rate_limits[scope]} requests per minute is used up.",
            retry_after=decision.retry_after,
        )

    def _authenticate(self, secret: str | None) -> Principal:
        try:
            return self._authenticator.authenticate(secret)
        except Unauthenticated as exc:
            raise _unauthorized(exc) from None
