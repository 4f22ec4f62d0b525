"""Where a material's file lives in S3, and the deletion outbox that makes sure it goes when its
row does: the one owner of the key layout and of the ``object_deletions`` table.

A delete records its objects in the outbox in the transaction that deletes the rows
(:func:`schedule_deletion`); after the commit the caller deletes them at once
(:func:`delete_now`), and whatever S3 refused then stays in the outbox for :func:`drain`, which
the uploads service's janitor runs with backoff until S3 answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg_pool import ConnectionPool

from libs.platform.storage import Storage

log = logging.getLogger(__name__)

# --- the key layout ---------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Every material's object lies under this prefix (the sweep of abandoned uploads lists it).
ROOT_PREFIX = "tenants/"


def safe_name(filename: str) -> str:
    """A file name that can never leave its key prefix: the last path segment, ASCII letters,
    digits, dot, dash and underscore only, no leading dots, at most 120 characters."""
    last = re.split(r"[\\/]", filename)[-1]
    cleaned = _UNSAFE.sub("_", last).lstrip("._")[-120:]
    return cleaned or "file"


def tenant_prefix(tenant_id: str) -> str:
    """The key prefix under which every object of a tenant lives."""
    return f"{ROOT_PREFIX}{tenant_id}/"


def course_prefix(tenant_id: str, course_id: str) -> str:
    """The key prefix under which every object of a course's materials lives."""
    return f"{tenant_prefix(tenant_id)}courses/{course_id}/materials/"


def object_key(tenant_id: str, course_id: str, material_id: str, filename: str) -> str:
    """Where a material's file is stored: under its tenant, course and material id, so keys
    never collide and a course's objects share one prefix."""
    return f"{course_prefix(tenant_id, course_id)}{material_id}/{safe_name(filename)}"


# --- the deletion outbox ----------------------------------------------------------------------

# A failed deletion is tried again after 2^attempts seconds, at most this long: S3 is usually
# back within seconds, and a retry against a stopped endpoint costs one refused connection.
LONGEST_BACKOFF_SECONDS = 10
# what Storage.delete_objects raises when S3 is away, refuses, or keeps some of the objects
_S3_FAILURES = (BotoCoreError, ClientError, RuntimeError)
_RECORD = """INSERT INTO object_deletions (key, next_attempt_at)
             SELECT unnest(%s::text[]), coalesce(%s::timestamptz, now()) + make_interval(secs => %s)
             ON CONFLICT (key) DO UPDATE
             SET next_attempt_at = greatest(object_deletions.next_attempt_at, EXCLUDED.next_attempt_at)"""
_DUE = """SELECT key FROM object_deletions WHERE next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED"""
_DONE = "DELETE FROM object_deletions WHERE key = ANY(%s)"
_LATER = f"""UPDATE object_deletions SET attempts = attempts + 1,
                    next_attempt_at = now() + make_interval(secs => least(2 ^ attempts, {LONGEST_BACKOFF_SECONDS}))
              WHERE key = ANY(%s)"""  # noqa: S608 (constants only)


def schedule_deletion(
    conn: psycopg.Connection, keys: Sequence[str], *, not_before: datetime | None = None, delay_seconds: float = 0
) -> None:
    """Record ``keys`` for deletion, inside the caller's transaction: they are due exactly when
    the rows that named them are gone, or ``delay_seconds`` after ``not_before`` (an upload's
    object, which a client may still PUT until its URL expires)."""
    if keys:
        conn.execute(_RECORD, (list(keys), not_before, delay_seconds))


def delete_now(pool: ConnectionPool, storage: Storage, keys: Sequence[str]) -> bool:
    """After the commit that scheduled them: delete ``keys`` from S3 and from the outbox; what
    S3 refused stays scheduled for :func:`drain`. Whether all are gone."""
    if not keys:
        return True
    try:
        storage.delete_objects(list(keys))
    except _S3_FAILURES as exc:  # S3 away or refusing: the outbox keeps them
        log.warning("%d stored objects stay scheduled for deletion: %s", len(keys), str(exc)[:200])
        return False
    try:
        with pool.connection() as conn:
            conn.execute(_DONE, (list(keys),))
    except psycopg.Error as exc:  # deleted already; drain finds them gone and forgets them
        log.warning("deleted %d stored objects but could not clear the outbox: %s", len(keys), exc)
    return True


def drain(pool: ConnectionPool, storage: Storage, *, batch: int = 500) -> int:
    """Delete the due objects of the outbox (several processes may drain at once: each takes
    rows the others do not hold); those S3 refuses are tried again later, with backoff.
    Returns how many were deleted; raises when S3 or the database is away."""
    with pool.connection() as conn, conn.transaction():
        keys = [key for (key,) in conn.execute(_DUE, (batch,))]
        if not keys:
            return 0
        try:
            storage.delete_objects(keys)
        except _S3_FAILURES:
            conn.execute(_LATER, (keys,))
            raise
        conn.execute(_DONE, (keys,))
    return len(keys)
