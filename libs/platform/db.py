"""The PostgreSQL connection pool: one per worker process, built from settings."""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from libs.platform.settings import Settings

# How long a request waits for a connection before it answers 503. With the database down,
# every checkout waits this long (the pool keeps reconnecting meanwhile), and a request may
# check out twice (the API key on a cache miss, then its own work): 2 x 2 s stays within the
# 5 s a client is promised for an answer. Each thread of a process can hold one connection, so
# a healthy service does not wait for one at all.
CHECKOUT_TIMEOUT_SECONDS = 2.0
DEADLOCK_ATTEMPTS = 3
T = TypeVar("T")


def create_pool(settings: Settings, *, name: str, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    """A closed pool; the entry point opens it (``pool.open(wait=True)``) to fail fast.

    A connection is verified as it leaves the pool only when it looks suspect (see
    :func:`check_if_suspect`), so after a database restart requests get fresh connections
    instead of a broken one each, without a round trip per checkout. Connections are in
    autocommit mode: a statement is its own transaction unless code opens one explicitly with
    ``conn.transaction()``, so no request leaves a transaction idle or implicit.
    """
    return ConnectionPool(
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
