"""Deep health checks, run concurrently under one deadline so a hanging dependency makes
``/health`` answer 503 quickly instead of hanging too."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.storage import Storage

Check = Callable[[], None]
DEADLINE_SECONDS = 3.0


def database_check(pool: ConnectionPool) -> Check:
    def check() -> None:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    return check


def redis_check(client: redis.Redis) -> Check:
    return lambda: client.ping()


def storage_check(storage: Storage) -> Check:
    return storage.check


class Health:
    """``GET /health``: ``{"status", "checks", "timestamp"}``, 200 when all are ok, else 503."""

    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)
        # Threads outlive a hung check; a small fixed pool caps how many can pile up.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4 * max(1, len(self._checks)), thread_name_prefix="health"
        )

    def run(self) -> dict[str, str]:
        futures = {name: self._executor.submit(check) for name, check in self._checks.items()}
        done, _ = concurrent.futures.wait(futures.values(), timeout=DEADLINE_SECONDS)
        results: dict[str, str] = {}
        for name, future in futures.items():
            if future not in done:
                results[name] = "error: timed out"
            elif future.exception() is not None:
                results[name] = f"error: {_summary(future.exception())}"
            else:
                results[name] = "ok"
        return results

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        checks = self.run()
        healthy = all(value == "ok" for value in checks.values())
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        resp.cache_control = ["no-store"]
        resp.media = {
            "status": "ok" if healthy else "degraded",
            "checks": checks,
            "timestamp": datetime.now(UTC).isoformat(),
        }


def _summary(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
