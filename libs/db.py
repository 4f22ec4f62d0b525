"""The PostgreSQL connection pool: one per worker process, built from settings."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs.settings import Settings


def create_pool(settings: Settings, *, name: str, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    """A closed pool; the entry point opens it (``pool.open(wait=True)``) to fail fast.

    ``check`` verifies a connection as it leaves the pool, so after a database restart the
    first requests get fresh connections instead of a broken one each. Connections are in
    autocommit mode: a statement is its own transaction unless code opens one explicitly with
    ``conn.transaction()``, so no request leaves a transaction idle or implicit.
    """
    return ConnectionPool(
        settings.postgres_conninfo,
        name=name,
        min_size=min_size,
        max_size=max_size,
        open=False,
        check=ConnectionPool.check_connection,
        kwargs={"autocommit": True},
        timeout=5,
    )
