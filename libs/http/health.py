"""Deep health checks, run concurrently under one deadline so a hanging dependency makes
``/health`` answer 503 quickly instead of hanging too.

The answer says only ``ok`` or ``fail`` per check: it is public and unauthenticated, so what
went wrong (exception text, host names, ports) goes to the log, with the request id.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.platform.storage import Storage

# A check raises when it fails; it may return figures for the answer's "metrics" (how old the
# oldest queued job is, say), which Netdata can chart, and a failing check may carry them on
# its exception as ``metrics``.
Check = Callable[[], Mapping[str, float] | None]
DEADLINE_SECONDS = 3.0
# A service that cannot say "ok" from memory within a second is stuck, for callers too.
LIVENESS_TIMEOUT_SECONDS = 1.0
# Anyone may call /health: one run of the probes per second and process, however many call,
# so the endpoint cannot be turned into load on PostgreSQL, S3 or the other services.
CACHE_SECONDS = 1.0

log = logging.getLogger(__name__)
# No proxy from the environment: the services talk to each other directly.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def database_check(pool: ConnectionPool) -> Check:
    def check() -> None:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    return check


def redis_check(client: redis.Redis) -> Check:
    def check() -> None:
        client.ping()

    return check


def storage_check(storage: Storage) -> Check:
    def check() -> None:
        storage.check()

    return check


def liveness_check(base_url: str, *, timeout: float = LIVENESS_TIMEOUT_SECONDS) -> Check:
    """``GET {base_url}/health/live`` answers 200 within ``timeout``: the service runs and has
    a free request thread (a stopped or saturated one does not answer)."""
    url = f"{base_url}/health/live"

    def check() -> None:
        with _opener.open(url, timeout=timeout) as answer:  # an http(s) URL from settings
            answer.read()

    return check


@dataclass(frozen=True)
class Report:
    problems: Mapping[str, str]  # check name → what went wrong, for the log only
    names: tuple[str, ...]
    taken: float  # time.monotonic() of the run
    timestamp: str
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def public(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "degraded",
            "checks": {name: "fail" if name in self.problems else "ok" for name in self.names},
            "timestamp": self.timestamp,
            **({"metrics": dict(self.metrics)} if self.metrics else {}),
        }

    @functools.cached_property
    def body(self) -> bytes:
        """The answer's bytes, rendered once per run, not once per caller."""
        return json.dumps(self.public()).encode()


class Health:
    """``GET /health``: ``{"status", "checks", "timestamp"}``, 200 when all are ok, else 503.

    Results are reused for :data:`CACHE_SECONDS`. While one thread refreshes them, the others
    answer with the previous results rather than wait, so a burst of callers holds one request
    thread per process, not all of them."""

    def __init__(self, checks: Mapping[str, Check], *, cache_seconds: float = CACHE_SECONDS) -> None:
        self._checks = dict(checks)
        self._cache_seconds = cache_seconds
        self._report: Report | None = None
        self._refreshing = threading.Lock()
        # Threads outlive a hung check; a small fixed pool caps how many can pile up.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4 * max(1, len(self._checks)), thread_name_prefix="health"
        )

    def report(self) -> Report:
        current = self._report
        if current is not None and self._fresh(current):
            return current
        if current is not None and not self._refreshing.acquire(blocking=False):
            return current  # another thread is refreshing: answer with the last results meanwhile
        if current is None:
            self._refreshing.acquire()  # nothing to answer with yet: wait for the first run
        try:
            if self._report is None or not self._fresh(self._report):
                self._report = self._run()
            return self._report
        finally:
            self._refreshing.release()

    def _fresh(self, report: Report) -> bool:
        return time.monotonic() - report.taken < self._cache_seconds

    def _run(self) -> Report:
        futures = {name: self._executor.submit(check) for name, check in self._checks.items()}
        done, _ = concurrent.futures.wait(futures.values(), timeout=DEADLINE_SECONDS)
        problems: dict[str, str] = {}
        metrics: dict[str, float] = {}
        for name, future in futures.items():
            if future not in done:
                problems[name] = f"no answer within {DEADLINE_SECONDS:g} s"
            elif (exc := future.exception()) is not None:
                problems[name] = _summary(exc)
                metrics.update(getattr(exc, "metrics", {}))  # a failing check may still tell how bad
            elif future.result():
                metrics.update(future.result())
        return Report(problems, tuple(self._checks), time.monotonic(), datetime.now(UTC).isoformat(), metrics)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self.report()
        for name, problem in report.problems.items():
            # one line per failed check, under this request's id, for whoever saw the 503
            log.warning("health check failed", extra={"detail": f"{name}: {problem}"})
        resp.status = falcon.HTTP_200 if report.healthy else falcon.HTTP_503
        resp.cache_control = ["no-store"]
        resp.content_type = falcon.MEDIA_JSON
        resp.data = report.body


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
