"""A steady load on the API while the stack changes under it: every answer counted, every one
that is not 200 (or no answer at all) a failure."""

from __future__ import annotations

import collections
import threading
import time

import requests


class SteadyLoad:
    """``clients`` threads, each with its own keep-alive session, GETting ``url`` in a loop."""

    def __init__(self, url: str, key: str, ca: str, *, clients: int = 4, pause: float = 0.01) -> None:
        self.url, self.key, self.ca, self.clients, self.pause = url, key, ca, clients, pause
        self.answers: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    status = str(
                        session.get(self.url, headers={"X-API-Key": self.key}, verify=self.ca, timeout=15).status_code
                    )
                except requests.RequestException as exc:
                    status = type(exc).__name__
                with self._lock:
                    self.answers[status] += 1
                    if status != "200":
                        self.failures.append(f"{time.strftime('%H:%M:%S')} {status}")
                time.sleep(self.pause)

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.answers.values())

    @property
    def failed(self) -> int:
        return self.total - self.answers["200"]

    def counts(self) -> str:
        return f"{self.total} requests from {self.clients} clients, {self.failed} failed" + (
            f" ({dict(self.answers)}; first: {self.failures[:5]})" if self.failed else ""
        )
