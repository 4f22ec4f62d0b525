"""The Redis client every service uses: short timeouts and no retries, so that when Redis is
away the rate limiter fails open in milliseconds instead of stalling each request."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def create_redis(url: str, *, timeout: float = 1.0) -> redis.Redis:
    """A client with short socket timeouts and no retries (see the module docstring)."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
