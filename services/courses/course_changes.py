"""Which courses changed, as PostgreSQL announces it: one LISTEN connection per process.

Migration 0010 makes every committed change under a course send ``NOTIFY course_changed,
'<course id>'``. A :class:`CourseChanges` listens on a connection of its own, in a thread, and
hands each id to ``on_change``; it calls ``on_reset`` whenever it cannot vouch for having
heard everything — before its first connection is listening, after losing one, until the next
listens again — so a cache built on it drops everything rather than serve what may be stale.

A read can bring the listener up to date itself (:meth:`CourseChanges.catch_up`): PostgreSQL
sends a notification to listeners as the writing transaction commits, before the writer's
client hears that it did, so a notification of a write that was acknowledged is either
handled already or waiting on the listener's socket by the time the next request arrives.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable

import psycopg

CHANNEL = "course_changed"
APPLICATION_NAME = "course-changes"  # how the listeners show in pg_stat_activity
RECONNECT_SECONDS = 1.0
# How often an idle listener makes sure its connection still works (a network that silently
# dropped it; a server that went away is seen at once, its socket becomes readable).
IDLE_CHECK_SECONDS = 5.0
_MAX_DRAIN_ROUNDS = 100

log = logging.getLogger(__name__)


class CourseChanges:
    """LISTEN on :data:`CHANNEL`; ``on_change(course_id)`` per notification, ``on_reset()``
    whenever changes may have been missed. :attr:`listening` says whether both can be trusted."""

    def __init__(self, conninfo: str, *, on_change: Callable[[str], None], on_reset: Callable[[], None]) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._on_reset = on_reset
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # one reader of the connection at a time
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="course-changes", daemon=True)

    @property
    def listening(self) -> bool:
        """True while a connection is LISTENing: what was cached since can be trusted."""
        return self._conn is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; the thread closes its connection within IDLE_CHECK_SECONDS."""
        self._stopped.set()

    def catch_up(self) -> bool:
        """Handle the notifications already on the socket, without waiting for more; whether
        the listener is (still) listening afterwards. One non-blocking ``select`` when none is."""
        conn = self._conn
        if conn is None:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):  # closed under us by the thread: it resets and reconnects
            return False
        if readable:
            self._drain(conn)
        return self._conn is not None

    def _drain(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if self._conn is not conn:
                return  # lost and replaced meanwhile: the reset covered it
            try:
                # notifies() hands out those held back from a query first and may stop there:
                # go on until the socket has nothing more
                for _ in range(_MAX_DRAIN_ROUNDS):
                    handed_out = 0
                    for notify in conn.notifies(timeout=0):
                        self._on_change(notify.payload)
                        handed_out += 1
                    if not select.select([conn.fileno()], [], [], 0)[0]:
                        return
                    if not handed_out:
                        # readable, yet no notification: the server's goodbye (a restart, a
                        # terminated backend), which notifies() passes over; a query raises it
                        conn.execute("SELECT 1")
            except (psycopg.Error, OSError, ValueError) as exc:
                self._lose(conn, exc)

    def _lose(self, conn: psycopg.Connection, exc: BaseException) -> None:
        # under self._lock: from now until a new connection listens, nothing is trusted
        self._conn = None
        self._on_reset()
        log.warning("course change listener lost its connection", extra={"detail": str(exc)[:200]})
        conn.close()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True, application_name=APPLICATION_NAME)
                conn.execute(f"LISTEN {CHANNEL}")
            except psycopg.Error as exc:
                log.warning("course change listener cannot connect", extra={"detail": str(exc)[:200]})
                self._stopped.wait(RECONNECT_SECONDS)
                continue
            with self._lock:
                # anything cached before now was not covered by this connection
                self._on_reset()
                self._conn = conn
            self._listen(conn)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _listen(self, conn: psycopg.Connection) -> None:
        while not self._stopped.is_set() and self._conn is conn:
            try:
                readable, _, _ = select.select([conn.fileno()], [], [], IDLE_CHECK_SECONDS)
            except (OSError, ValueError) as exc:
                with self._lock:
                    if self._conn is conn:
                        self._lose(conn, exc)
                return
            if readable:
                self._drain(conn)
            else:
                self._probe(conn)

    def _probe(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if self._conn is not conn:
                return
            try:
                conn.execute("SELECT 1")
                for notify in conn.notifies(timeout=0):  # any that came with the answer
                    self._on_change(notify.payload)
            except psycopg.Error as exc:
                self._lose(conn, exc)
