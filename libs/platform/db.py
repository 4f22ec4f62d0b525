"""The PostgreSQL connection pool: one per worker process, built from settings."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

from libs.platform.settings import Settings

# How long a request waits for a connection before it answers 503. With the database down,
# every checkout waits this long (the pool keeps reconnecting meanwhile), and a request may
# check out twice (the API key on a cache miss, then its own work): 2 x 2 s stays within the
# 5 s a client is promised for an answer. Each thread of a process can hold one connection, so
# a healthy service does not wait for one at all.
CHECKOUT_TIMEOUT_SECONDS = 2.0
DEADLOCK_ATTEMPTS = 3
# A statement running this long while a new connection cannot be made within PROBE_SECONDS
# means PostgreSQL stopped answering with its sockets open (frozen, partitioned): see
# StuckStatementWatchdog. Together with the half-second look, a request fails within ~3.5 s.
STUCK_AFTER_SECONDS = 0.5
PROBE_SECONDS = 2  # libpq's connect_timeout: whole seconds, at least 2
T = TypeVar("T")
log = logging.getLogger(__name__)


class WatchedPool(ConnectionPool):
    """A pool that knows which of its connections are checked out (for the watchdog)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._out: dict[int, psycopg.Connection] = {}
        self._out_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        conn = super().getconn(timeout)
        with self._out_lock:
            self._out[id(conn)] = conn
        return conn

    def putconn(self, conn: psycopg.Connection) -> None:
        with self._out_lock:
            self._out.pop(id(conn), None)
        super().putconn(conn)

    def checked_out(self) -> list[psycopg.Connection]:
        with self._out_lock:
            return list(self._out.values())


class StuckStatementWatchdog:
    """A frozen PostgreSQL (SIGSTOP, a partition) keeps its sockets open and never answers: a
    statement then waits for ever, since statement_timeout is the server's to fire and TCP
    keepalives are answered by the kernel. Every half second this looks at the pool's checked
    out connections; when one has been in a statement for STUCK_AFTER_SECONDS, a probe (a
    thread of its own, so the looks go on meanwhile) tries a new connection; one that cannot
    be made within PROBE_SECONDS means the server is not answering, and from then until a probe
    connects again every statement seen waiting has its socket shut, so its request fails at
    once (503) instead of hanging, and the pool replaces the connection once the server answers.
    A slow statement on a live server is left alone: the probe connects."""

    interval = 0.5

    def __init__(self, pool: WatchedPool, conninfo: str, *, stuck_after: float = STUCK_AFTER_SECONDS) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._stuck_after = stuck_after
        self._down = threading.Event()  # the last probe could not connect
        self._probe_wanted = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name="db-watchdog", daemon=True),
            threading.Thread(target=self._probe, name="db-watchdog-probe", daemon=True),
        ]

    def start(self) -> StuckStatementWatchdog:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._probe_wanted.set()

    def _run(self) -> None:
        active_since: dict[int, float] = {}
        while not self._stop.wait(self.interval):
            try:
                active_since = self._look(active_since)
            except Exception:  # a watchdog that dies would leave requests hanging again
                log.exception("the database watchdog failed; it goes on")

    def _look(self, active_since: dict[int, float]) -> dict[int, float]:
        now = time.monotonic()
        out = self._pool.checked_out()
        seen = {
            id(conn): active_since.get(id(conn), now)
            for conn in out
            if not conn.closed and conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE
        }
        down = self._down.is_set()
        patience = self.interval if down else self._stuck_after
        stuck = [conn for conn in out if id(conn) in seen and now - seen[id(conn)] >= patience]
        if stuck or down:
            self._probe_wanted.set()  # down: is it back?
        if down and stuck:
            log.error("PostgreSQL does not answer: failing %d statements that waited on it", len(stuck))
            for conn in stuck:
                _shut(conn)
                seen.pop(id(conn), None)
        return seen

    def _probe(self) -> None:
        while not self._stop.is_set():
            self._probe_wanted.wait()
            self._probe_wanted.clear()
            if self._stop.is_set():
                return
            try:
                with psycopg.connect(self._conninfo, connect_timeout=PROBE_SECONDS, autocommit=True) as probe:
                    probe.execute("SELECT 1")
            except psycopg.Error:
                self._down.set()
            else:
                self._down.clear()


def _shut(conn: psycopg.Connection) -> None:
    """End the connection's socket under libpq's feet: a read blocked on it returns at once
    (the statement fails with OperationalError), and the pool discards the connection."""
    try:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError as exc:  # closed meanwhile: nothing left to free
        log.debug("could not shut a stuck connection: %s", exc)


def create_pool(settings: Settings, *, name: str, min_size: int = 1, max_size: int = 8) -> WatchedPool:
    """A closed pool; the entry point opens it (``pool.open(wait=True)``) to fail fast.

    A connection is verified as it leaves the pool only when it looks suspect (see
    :func:`check_if_suspect`), so after a database restart requests get fresh connections
    instead of a broken one each, without a round trip per checkout. Connections are in
    autocommit mode: a statement is its own transaction unless code opens one explicitly with
    ``conn.transaction()``, so no request leaves a transaction idle or implicit.
    """
    return WatchedPool(
        settings.postgres_conninfo,
        name=name,
        min_size=min_size,
        max_size=max_size,
        open=False,
        check=check_if_suspect,
        kwargs={"autocommit": True},
        timeout=CHECKOUT_TIMEOUT_SECONDS,
    )


def check_if_suspect(conn: psycopg.Connection) -> None:
    """Pay for a round trip only when the socket of an idle connection is readable: the server
    has then written to it unasked, which means it closed it (a restart, a terminated backend)
    or is about to. A healthy idle connection costs one non-blocking ``select``.
    Measured with ``make bench``: checking every checkout took about a third of a course read."""
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


def retry_on_deadlock(work: Callable[[], T], *, attempts: int = DEADLOCK_ATTEMPTS) -> T:
    """Run ``work`` (a whole transaction, its connection checkout included) again when
    PostgreSQL broke a deadlock by aborting it. A delete that cascades through a material's
    rows meets the ingestion writing them in the other order; one of the two is aborted, and
    done again it finds the other finished, rather than answering a client 503."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except psycopg.errors.DeadlockDetected:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)  # the other transaction ends meanwhile
    raise AssertionError("unreachable")
