"""The shared token bucket: one per (tenant, scope) in Redis.

A Lua script reads, refills and spends the bucket in one atomic step using Redis' own
clock, so every worker of every service sees exactly the same bucket. If Redis cannot be
reached the limiter fails open: availability of the API matters more than exact limits for
the few seconds Redis is away, and the failure is logged and shown by ``/health``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import redis

from libs.keycache import EPOCH_KEY

log = logging.getLogger(__name__)

# KEYS[1]: bucket; KEYS[2]: the API-key cache epoch (libs/keycache.py), returned in the same
# round trip; ARGV[1]: capacity (= requests per minute).
# Refill is continuous at capacity / 60 000 tokens per millisecond.
# Returns {allowed (0/1), milliseconds until one token is available, epoch}.
_TOKEN_BUCKET = """
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
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ''
end
return {allowed, wait_ms, epoch}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds, >= 1 when refused
    auth_epoch: str | None = None  # None when Redis could not be asked


class RateLimiter:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_TOKEN_BUCKET)

    def hit(self, tenant_id: str, scope: str, per_minute: int) -> Decision:
        """Spend one token of the (tenant, scope) bucket whose capacity is ``per_minute``."""
        try:
            allowed, wait_ms, epoch = self._script(
                keys=[f"ratelimit:{tenant_id}:{scope}", EPOCH_KEY], args=[per_minute]
            )
        except redis.RedisError as exc:
            log.error("rate limiter unavailable, allowing request: %s", exc)
            return Decision(allowed=True, retry_after=0)
        epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        if allowed:
            return Decision(allowed=True, retry_after=0, auth_epoch=epoch)
        return Decision(allowed=False, retry_after=max(1, math.ceil(int(wait_ms) / 1000)), auth_epoch=epoch)
