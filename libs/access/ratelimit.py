"""The shared token bucket: one per (tenant, scope) in Redis.

A Lua script reads, refills and spends the bucket in one atomic step using Redis' own
clock, so every worker of every service sees exactly the same bucket. If Redis cannot be
reached the limiter fails open: availability of the API matters more than exact limits for
the few seconds Redis is away. ``/health`` shows the failure, and each limiter logs one
warning a minute while it lasts (one per request would flood the logs exactly when an
operator needs to read them).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from libs.access.keycache import EPOCH_KEY

log = logging.getLogger(__name__)

# KEYS[1]: bucket; KEYS[2]: the API-key cache epoch (libs/access/keycache.py), returned in the same
# round trip; KEYS[3]: the tenant's request counts this month (a hash: the scope's requests
# let through, and "<scope>:limited" those refused); ARGV[1]: capacity (= requests per minute);
# ARGV[2]: the scope; ARGV[3], optional: the epoch the caller's cached key was authenticated
# under. When it is no longer current nothing is spent or counted: the caller must
# authenticate the key again before its scopes and limits mean anything.
# Refill is continuous at capacity / 60 000 tokens per millisecond.
# Returns {allowed (0/1), milliseconds until one token is available, epoch, stale (0/1)}.
_TOKEN_BUCKET = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ''
end
if ARGV[3] ~= nil and ARGV[3] ~= epoch then
  return {0, 0, epoch, 1}
end
local capacity = tonumber(ARGV[1])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
local elapsed = math.max(0, now - ts)
tokens = math.min(capacity, tokens + elapsed * capacity / 60000)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) * 60000 / capacity)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 61000)
if allowed == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
else
  redis.call('HINCRBY', KEYS[3], ARGV[2] .. ':limited', 1)
end
redis.call('EXPIRE', KEYS[3], 34560000)
return {allowed, wait_ms, epoch, 0}
"""

WARN_EVERY_SECONDS = 60.0


def counts_key(tenant_id: str, month: str) -> str:
    """The Redis hash of a tenant's request counts in ``month`` (``YYYY-MM``, UTC), kept 400 days."""
    return f"usage:{tenant_id}:{month}"


def request_counts(client: redis.Redis, tenant_id: str, month: str) -> dict[str, dict[str, int]]:
    """The tenant's requests in ``month`` by scope: let through, and refused by the limit."""
    raw = {k.decode(): int(v) for k, v in client.hgetall(counts_key(tenant_id, month)).items()}
    scopes = sorted({name.split(":")[0] for name in raw})
    return {scope: {"requests": raw.get(scope, 0), "limited": raw.get(f"{scope}:limited", 0)} for scope in scopes}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds, >= 1 when refused
    auth_epoch: str | None = None  # None when Redis could not be asked
    stale: bool = False  # the caller's epoch is not current: nothing was spent, nothing decided


class RateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        *,
        warn_every: float = WARN_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._script = client.register_script(_TOKEN_BUCKET)
        self._warn_every = warn_every
        self._clock = clock
        self._lock = threading.Lock()
        self._warned_at: float | None = None
        self._unlimited = 0  # requests let through unlimited since the last warning

    def hit(self, tenant_id: str, scope: str, per_minute: int, *, epoch: str | None = None) -> Decision:
        """Spend one token of the (tenant, scope) bucket whose capacity is ``per_minute``.

        With ``epoch`` (the key cache's epoch of the caller's key) nothing is spent when the
        epoch is no longer current: the decision is then ``stale``. When Redis cannot be
        reached the request is allowed and the decision's ``auth_epoch`` is None.
        """
        args = [per_minute, scope] if epoch is None else [per_minute, scope, epoch]
        keys = [
            f"ratelimit:{tenant_id}:{scope}",
            EPOCH_KEY,
            counts_key(tenant_id, time.strftime("%Y-%m", time.gmtime())),
        ]
        try:
            allowed, wait_ms, current, stale = self._spend(keys, args)
        except redis.RedisError as exc:
            self._warn_unavailable(exc)
            return Decision(allowed=True, retry_after=0)
        current = current.decode() if isinstance(current, bytes) else str(current)
        if stale:
            return Decision(allowed=False, retry_after=0, auth_epoch=current, stale=True)
        if allowed:
            return Decision(allowed=True, retry_after=0, auth_epoch=current)
        return Decision(allowed=False, retry_after=max(1, math.ceil(int(wait_ms) / 1000)), auth_epoch=current)

    def _spend(self, keys: list[str], args: list) -> list:
        """The script's reply, by EVALSHA on a pooled connection. Every authenticated request
        runs this; redis-py's command path around it (retry wrapper, observability hooks,
        reply callbacks) cost ~100 µs of CPU per call, most of the course read's Python time
        (measured with cProfile), and this one command needs none of it."""
        pool = self._client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_command("EVALSHA", self._script.sha, len(keys), *keys, *args)
            return connection.read_response()
        except redis.exceptions.NoScriptError:
            pass  # a Redis that restarted has forgotten the script: load it, below
        except BaseException:
            connection.disconnect()  # a broken or half-read connection goes back closed
            raise
        finally:
            pool.release(connection)
        return self._script(keys=keys, args=args)

    def _warn_unavailable(self, exc: redis.RedisError) -> None:
        with self._lock:
            self._unlimited += 1
            now = self._clock()
            if self._warned_at is not None and now - self._warned_at < self._warn_every:
                return
            self._warned_at, let_through, self._unlimited = now, self._unlimited, 0
        log.warning(
            "rate limiter unavailable, allowing requests without a limit (%d since the last warning): %s",
            let_through,
            exc,
        )
