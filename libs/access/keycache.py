"""A per-process cache of authenticated API keys, kept honest by an epoch in Redis.

Without it every request pays a PostgreSQL round trip for its key. A cached key is used only
while the Redis epoch it was cached under is still current: the admin CLI replaces the epoch
on every revocation or deactivation, and the rate-limit script compares the cached epoch in
the same round trip it spends a token in (spending nothing when it is stale), so checking
costs nothing extra. When Redis cannot
be reached nothing is cached or trusted from the cache; a TTL bounds any entry regardless.
When full, the least recently used entry makes room: the keys in steady use stay cached.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from libs.access.auth import Principal

EPOCH_KEY = "auth:epoch"


# How long a service trusts a key it authenticated, unless the epoch moves first.
TTL_SECONDS = 30.0


def invalidate_cached_keys(client: redis.Redis) -> None:
    """Make every service drop the keys it has cached (after a revoke or a deactivation)."""
    client.set(EPOCH_KEY, secrets.token_hex(8))


@dataclass(frozen=True)
class Entry:
    principal: Principal
    epoch: str
    expires_at: float  # monotonic time the entry stops being used
    key_expires_at: datetime | None


class KeyCache:
    """Authenticated keys by the SHA-256 digest of the secret, each with the epoch it was
    authenticated under; ``clock`` (monotonic seconds) is there for tests."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl: float = TTL_SECONDS,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def current_epoch(self) -> str | None:
        """The epoch now, or None when Redis cannot say (then nothing may be cached)."""
        try:
            value = self._client.get(EPOCH_KEY)
        except redis.RedisError:
            return None
        return value.decode() if value else ""

    def get(self, digest: str) -> Entry | None:
        """The entry of a key, unless absent, past its TTL or past the key's own expiry."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expired_key = entry.key_expires_at is not None and entry.key_expires_at <= datetime.now(UTC)
            if self._clock() >= entry.expires_at or expired_key:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry

    def put(self, digest: str, principal: Principal, epoch: str) -> None:
        """Cache ``principal`` as authenticated under ``epoch`` (read before the database)."""
        key_expiry = datetime.fromisoformat(principal.expires_at) if principal.expires_at else None
        entry = Entry(principal, epoch, self._clock() + self._ttl, key_expiry)
        with self._lock:
            self._entries.pop(digest, None)
            while len(self._entries) >= self._capacity:
                self._entries.popitem(last=False)
            self._entries[digest] = entry

    def drop(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)
