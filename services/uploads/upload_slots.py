"""A cap on each tenant's concurrent uploads, shared by every worker process through Redis.

An upload holds a worker thread for as long as its client takes to send the body, so a few
stalled clients of one tenant could otherwise occupy every thread of the uploads service.
Each tenant has a sorted set of (upload id, lease expiry); an upload is admitted while the
set holds fewer live leases than the cap. A background thread per process renews the
leases of the uploads it is running, so a live upload keeps its slot however slowly its
body arrives, and a crashed worker's slots lapse after one lease. Like the rate limiter,
the cap fails open when Redis cannot be reached: uploads go on, uncapped, and it is logged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

import redis

log = logging.getLogger(__name__)

# KEYS[1]: the tenant's set; ARGV: cap, lease (ms), upload id. Redis' clock, so every
# process agrees on what has lapsed. Returns 1 when admitted, 0 when the cap is reached.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
"""
# KEYS: the sets of held uploads; ARGV[1]: lease (ms), ARGV[i + 1]: the upload id in KEYS[i].
# A lease that lapsed meanwhile (Redis was away) is taken again: the upload is running.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS
"""


class TooManyUploads(Exception):
    """The tenant already runs as many uploads as the cap allows."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"{limit} uploads already running")
        self.limit = limit
        self.retry_after = retry_after


class UploadSlots:
    """``with slots.hold(tenant_id): …`` runs an upload in one of the tenant's ``per_tenant``
    slots, or raises :class:`TooManyUploads`."""

    def __init__(
        self, client: redis.Redis, *, per_tenant: int, lease_seconds: float = 60.0, retry_after: int = 5
    ) -> None:
        if per_tenant < 1:
            raise ValueError("per_tenant must be at least 1")
        self.per_tenant = per_tenant
        self._client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._lease_ms = int(lease_seconds * 1000)
        self._retry_after = retry_after
        self._held: dict[str, str] = {}  # upload id → the tenant's set
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._wake = threading.Event()

    @staticmethod
    def key(tenant_id: str) -> str:
        """The Redis key of the tenant's leases."""
        return f"uploads:{tenant_id}"

    @contextlib.contextmanager
    def hold(self, tenant_id: str) -> Iterator[None]:
        """Hold a slot of the tenant's while the block runs; :class:`TooManyUploads` if all
        are taken. Without Redis the block runs uncapped."""
        upload_id, key = uuid.uuid4().hex, self.key(tenant_id)
        try:
            admitted = bool(self._acquire(keys=[key], args=[self.per_tenant, self._lease_ms, upload_id]))
        except redis.RedisError as exc:
            log.error("upload slots unavailable, allowing the upload uncapped: %s", exc)
            yield
            return
        if not admitted:
            raise TooManyUploads(self.per_tenant, self._retry_after)
        self._track(upload_id, key)
        try:
            yield
        finally:
            self._untrack(upload_id)
            try:
                self._client.zrem(key, upload_id)
            except redis.RedisError as exc:  # the lease lapses by itself
                log.error("could not free an upload slot of %s: %s", key, exc)

    def _track(self, upload_id: str, key: str) -> None:
        with self._lock:
            self._held[upload_id] = key
            if self._renewer is None:
                self._wake.clear()
                self._renewer = threading.Thread(target=self._renew_while_held, name="upload-slots", daemon=True)
                self._renewer.start()

    def _untrack(self, upload_id: str) -> None:
        with self._lock:
            self._held.pop(upload_id, None)
            if not self._held:
                self._wake.set()  # let the renewer end now rather than after a lease third

    def _renew_while_held(self) -> None:
        # One thread per process, alive only while this process runs uploads: a slow body
        # keeps its slot, and an idle worker pays nothing.
        while True:
            self._wake.wait(self._lease_ms / 3000)
            with self._lock:
                if not self._held:
                    self._renewer = None
                    return
                self._wake.clear()
                held = list(self._held.items())
            try:
                self._renew(keys=[key for _, key in held], args=[self._lease_ms] + [upload for upload, _ in held])
            except redis.RedisError as exc:
                log.error("could not renew %d upload slots: %s", len(held), exc)
