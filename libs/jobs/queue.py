"""The durable job queue: the one owner of the ``jobs`` table. Whoever enqueues, claims, leases,
reports on or finishes a job does it through these statements; :mod:`libs.jobs.runner` is the
loop a worker process drains the table with."""

from __future__ import annotations

import dataclasses
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from libs.errors import NotFound

log = logging.getLogger(__name__)

# The vocabularies of the table's CHECK constraints (migrations/0004), declared once here.
KINDS = ("ingest_material", "generate_structure", "grade_submission", "embed_concepts")
STATUSES = ("queued", "running", "succeeded", "failed")
CHANNEL = "jobs_queued"  # migrations/0007's trigger NOTIFYs it with the job's kind
CANCEL_CHANNEL = "jobs_cancelled"  # migrations/0026's trigger: a running job's row was deleted
# how many waiting tenants one claim tries in turn before it falls back to the oldest due job
FAIR_TENANTS = 16

# Retry delays: base · 2^(attempt-1), capped, with "equal jitter" (half fixed, half random) so
# jobs that failed together against one outage do not all come back in the same second, and a
# retry is never immediate.
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 600.0
UNEXPECTED = "the job failed unexpectedly"
WORKER_STOPPED = "the worker running the job stopped responding"

# What the API shows of a job (services/agent/jobs.py publishes its schema): written out, so
# a column added to the table is never published by accident.
_VIEW = (
    "id, kind, status, stage, progress, attempts, max_attempts, course_id, material_id, error, result,"
    " created_at, started_at, finished_at, updated_at, run_after"
)
_GET = f"SELECT {_VIEW} FROM jobs WHERE id = %s AND tenant_id = %s"  # noqa: S608 (constants only)
_JOB = "id, tenant_id, course_id, material_id, kind, payload, attempts, max_attempts"
_INSERT = (
    "INSERT INTO jobs (tenant_id, course_id, material_id, kind, payload, max_attempts, run_after)"
    " VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s)) RETURNING id"
)
# A queued job finished by someone other than a worker (the API graded in time): only while no
# worker has claimed it, so the two can never both write a result.
_COMPLETE_QUEUED = """
UPDATE jobs SET status = 'succeeded', result = %(result)s, progress = 100, finished_at = now(), updated_at = now()
WHERE id = %(id)s AND tenant_id = %(tenant)s AND status = 'queued'
"""
# Fair turns: the tenants with a due job, found by a skip scan of jobs_queued_tenant_idx (one
# probe per tenant, however long each one's backlog), the one served least recently first.
_WAITING_TENANTS = """
WITH RECURSIVE waiting AS (
    (SELECT tenant_id FROM jobs
      WHERE status = 'queued' AND run_after <= now() AND kind = ANY(%(kinds)s)
      ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.tenant_id FROM jobs j
             WHERE j.status = 'queued' AND j.run_after <= now() AND j.kind = ANY(%(kinds)s)
               AND j.tenant_id > w.tenant_id
             ORDER BY j.tenant_id LIMIT 1)
      FROM waiting w WHERE w.tenant_id IS NOT NULL
)
SELECT w.tenant_id FROM waiting w LEFT JOIN job_turns t ON t.tenant_id = w.tenant_id
 WHERE w.tenant_id IS NOT NULL
 ORDER BY t.served_at NULLS FIRST
 LIMIT %(tenants)s
"""
# One statement: the subquery locks one due row, skipping rows other workers hold, and the
# UPDATE takes it, so two workers can never leave with the same job; the tenant's turn is
# stamped in the same statement. Of one tenant (its oldest due job), or of any: the oldest due
# job, or a running job whose lease expired (its worker died) unless it has used up its
# attempts (see _REAP).
_TAKE = f"""
WITH claimed AS (
    UPDATE jobs SET status = 'running', locked_by = %(worker)s,
           lease_expires_at = now() + make_interval(secs => %(lease)s), attempts = attempts + 1,
           started_at = coalesce(started_at, now()), updated_at = now(), stage = NULL, progress = 0
    WHERE id = ({{pick}})
    RETURNING {_JOB}
), turn AS (
    INSERT INTO job_turns (tenant_id, served_at) SELECT tenant_id, clock_timestamp() FROM claimed
    ON CONFLICT (tenant_id) DO UPDATE SET served_at = excluded.served_at
)
SELECT * FROM claimed
"""  # noqa: S608 (constants only)
_CLAIM_OF_TENANT = _TAKE.format(
    pick="""SELECT id FROM jobs
    WHERE tenant_id = %(tenant)s AND status = 'queued' AND run_after <= now() AND kind = ANY(%(kinds)s)
    ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED"""
)
_CLAIM = _TAKE.format(
    pick="""SELECT id FROM jobs
    WHERE kind = ANY(%(kinds)s)
      AND ((status = 'queued' AND run_after <= now())
           OR (status = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
    ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED"""
)
# A job whose worker died on its last attempt (a file that kills the process every time, say)
# is failed rather than run forever.
_REAP = f"""
UPDATE jobs SET status = 'failed', error = %(error)s, finished_at = now(), updated_at = now(),
       lease_expires_at = NULL
WHERE id IN (
    SELECT id FROM jobs
    WHERE kind = ANY(%(kinds)s) AND status = 'running' AND lease_expires_at < now() AND attempts >= max_attempts
    FOR UPDATE SKIP LOCKED
)
RETURNING {_JOB}
"""  # noqa: S608 (constants only)
# Every write of a running job is guarded by who holds it: a worker whose lease lapsed and
# was taken over by another matches no row and changes nothing.
_OURS = "id = %(id)s AND locked_by = %(worker)s AND status = 'running'"
_RENEW = f"UPDATE jobs SET lease_expires_at = now() + make_interval(secs => %(lease)s) WHERE {_OURS}"  # noqa: S608
_REPORT = f"UPDATE jobs SET stage = %(stage)s, progress = %(progress)s, updated_at = now() WHERE {_OURS}"  # noqa: S608
_SUCCEED = f"""
UPDATE jobs SET status = 'succeeded', result = %(result)s, error = NULL, progress = 100, lease_expires_at = NULL,
       finished_at = now(), updated_at = now()
WHERE {_OURS}
"""  # noqa: S608 (constants only)
_REQUEUE = f"""
UPDATE jobs SET status = 'queued', error = %(error)s, run_after = now() + make_interval(secs => %(delay)s),
       lease_expires_at = NULL, updated_at = now()
WHERE {_OURS} AND attempts < max_attempts
RETURNING status
"""  # noqa: S608 (constants only)
_FAIL = f"""
UPDATE jobs SET status = 'failed', error = %(error)s, lease_expires_at = NULL, finished_at = now(), updated_at = now()
WHERE {_OURS}
RETURNING status
"""  # noqa: S608 (constants only)
_OLDEST_QUEUED_AGE = (
    "SELECT extract(epoch FROM now() - min(run_after))::float8 FROM jobs WHERE status = 'queued' AND run_after <= now()"
)
# How long an idle worker may sleep before something becomes due without a NOTIFY: a retry
# whose backoff ends, or a lease that expires. Each half reads its own partial index.
_NEXT_DUE = """
SELECT extract(epoch FROM least(
    (SELECT min(run_after) FROM jobs WHERE status = 'queued' AND kind = ANY(%(kinds)s)),
    (SELECT min(lease_expires_at) FROM jobs WHERE status = 'running' AND kind = ANY(%(kinds)s))
) - now())::float8
"""


@dataclass(frozen=True)
class Job:
    """A claimed job, as its handler sees it; ``attempts`` counts this run."""

    id: str
    tenant_id: str
    course_id: str | None
    material_id: str | None
    kind: str
    payload: dict
    attempts: int
    max_attempts: int
    worker_id: str = ""  # who holds it: what hold() checks

    @classmethod
    def _of(cls, row: Sequence[Any]) -> Job:
        id_, tenant_id, course_id, material_id, kind, payload, attempts, max_attempts = row
        return cls(
            str(id_),
            str(tenant_id),
            None if course_id is None else str(course_id),
            None if material_id is None else str(material_id),
            kind,
            payload,
            attempts,
            max_attempts,
        )


class Permanent(Exception):
    """Fail now; the message is what the job's error says (plain words)."""


class Transient(Exception):
    """Retry with backoff while attempts remain; then fail with this message."""


def check_kinds(kinds: Sequence[str]) -> list[str]:
    """``kinds`` as a list; ValueError unless each is one of :data:`KINDS` (and there is one)."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"job kinds must be some of {KINDS}, not {list(kinds)!r}")
    return list(kinds)


# --- the API's side -----------------------------------------------------------------------


def enqueue(
    conn: psycopg.Connection,
    tenant_id: str,
    kind: str,
    *,
    course_id: str | None = None,
    material_id: str | None = None,
    payload: dict | None = None,
    max_attempts: int = 3,
    delay_seconds: float = 0,
) -> str:
    """Queue a job and return its id. Runs inside the caller's transaction when there is one,
    so the job exists exactly when the rows it works on do; the trigger's NOTIFY is sent at
    commit, so no worker looks for the job before it can see it. ``delay_seconds`` holds it
    back from workers that long (a fallback for work the caller tries first itself)."""
    check_kinds([kind])
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    params = (tenant_id, course_id, material_id, kind, Jsonb(payload or {}), max_attempts, delay_seconds)
    row = conn.execute(_INSERT, params)
    return str(row.fetchone()[0])


def complete_queued(conn: psycopg.Connection, tenant_id: str, job_id: str, result: dict) -> bool:
    """Mark a still-queued job succeeded with ``result`` (its work was done outside a worker);
    ``False``, and nothing written, once a worker has claimed it. Call it in the transaction
    that writes the work's result, so both land or neither does."""
    params = {"id": job_id, "tenant": tenant_id, "result": Jsonb(result)}
    return conn.execute(_COMPLETE_QUEUED, params).rowcount == 1


def postpone(conn: psycopg.Connection, tenant_id: str, job_id: str, seconds: float) -> bool:
    """Hold a still-queued job back from workers ``seconds`` from now (0: due at once);
    ``False`` once a worker has claimed it or it is done."""
    return (
        conn.execute(
            "UPDATE jobs SET run_after = now() + make_interval(secs => %s), updated_at = now()"
            " WHERE id = %s AND tenant_id = %s AND status = 'queued'",
            (seconds, job_id, tenant_id),
        ).rowcount
        == 1
    )


def get(conn: psycopg.Connection, tenant_id: str, job_id: str) -> dict:
    """A job of the tenant as the API shows it (:data:`JOB_SCHEMA`); :class:`NotFound` for an
    unknown id, a malformed one, or another tenant's."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound("No job with this id.") from None
    row = conn.cursor(row_factory=dict_row).execute(_GET, (job_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("No job with this id.")
    return row


def oldest_queued_age_seconds(conn: psycopg.Connection) -> float | None:
    """Seconds the longest-waiting due job has waited since it became due, across tenants (an
    operator metric for /health); ``None`` when nothing is waiting. Jobs backing off before a
    retry are not waiting yet."""
    return conn.execute(_OLDEST_QUEUED_AGE).fetchone()[0]


# --- the worker's side --------------------------------------------------------------------


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (1 after the first run failed): exponential,
    capped at :data:`BACKOFF_CAP_SECONDS`, between half and all of that."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not secrecy)


def claim(conn: psycopg.Connection, worker_id: str, kinds: Sequence[str], lease_seconds: float) -> Job | None:
    """Take a due job of these kinds for ``worker_id``, holding it for ``lease_seconds``: the
    oldest of the tenant served least recently (round robin across tenants), else the oldest
    due one or one whose lease expired; ``None`` when none is due."""
    params = {"worker": worker_id, "lease": lease_seconds, "kinds": check_kinds(kinds)}
    row = None
    for (tenant,) in conn.execute(_WAITING_TENANTS, {**params, "tenants": FAIR_TENANTS}).fetchall():
        row = conn.execute(_CLAIM_OF_TENANT, {**params, "tenant": tenant}).fetchone()
        if row is not None:
            break
    else:  # no tenant's job free: another worker's claim took it, or only expired leases are due
        row = conn.execute(_CLAIM, params).fetchone()
    return None if row is None else dataclasses.replace(Job._of(row), worker_id=worker_id)


class LeaseLost(Exception):
    """Another worker runs the job now: this run must not write what it found."""


_HOLD = "SELECT 1 FROM jobs WHERE id = %s AND locked_by = %s AND status = 'running' FOR UPDATE"


def hold(conn: psycopg.Connection, job: Job) -> None:
    """Inside the transaction that writes a job's results: lock the job row and raise
    :class:`LeaseLost` unless this run still holds it, so a run whose lease lapsed (a frozen
    process, a lost database link) cannot overwrite what the run that took over writes."""
    if conn.execute(_HOLD, (job.id, job.worker_id)).fetchone() is None:
        raise LeaseLost(f"job {job.id} is no longer held by {job.worker_id}")


def reap(conn: psycopg.Connection, kinds: Sequence[str]) -> list[Job]:
    """Fail the jobs whose worker died during their last attempt (expired lease, no attempts
    left) and return them, so the caller can mark what they worked on."""
    rows = conn.execute(_REAP, {"error": WORKER_STOPPED, "kinds": check_kinds(kinds)}).fetchall()
    return [Job._of(row) for row in rows]


def renew(conn: psycopg.Connection, job_id: str, worker_id: str, lease_seconds: float) -> bool:
    """Extend the lease by ``lease_seconds`` from now; ``False`` if it is no longer ours."""
    return conn.execute(_RENEW, {"id": job_id, "worker": worker_id, "lease": lease_seconds}).rowcount == 1


def report(conn: psycopg.Connection, job_id: str, worker_id: str, *, stage: str, progress: int) -> None:
    """Record what the running job is doing (``stage``) and how far it is (0 to 100). Nothing
    is written if the job is no longer ours."""
    if not 0 <= progress <= 100:
        raise ValueError(f"progress must be 0-100, not {progress}")
    conn.execute(_REPORT, {"id": job_id, "worker": worker_id, "stage": stage, "progress": progress})


def succeed(conn: psycopg.Connection, job_id: str, worker_id: str, result: dict) -> bool:
    """Finish the job with ``result``; ``False`` (and nothing written) if it is no longer ours."""
    params = {"id": job_id, "worker": worker_id, "result": Jsonb(result)}
    return conn.execute(_SUCCEED, params).rowcount == 1


def fail(conn: psycopg.Connection, job_id: str, worker_id: str, error: str, *, retry: bool) -> str | None:
    """Record a failed run with ``error`` and return the job's new status: ``'queued'`` again
    after a backoff when ``retry`` and attempts remain, else ``'failed'``. ``None`` (and
    nothing written) if the job is no longer ours."""
    params: dict[str, Any] = {"id": job_id, "worker": worker_id, "error": error}
    with conn.transaction():
        if retry:
            attempts = conn.execute(
                "SELECT attempts FROM jobs WHERE id = %s AND locked_by = %s AND status = 'running' FOR UPDATE",
                (job_id, worker_id),
            ).fetchone()
            if attempts is None:
                return None
            row = conn.execute(_REQUEUE, {**params, "delay": backoff(attempts[0])}).fetchone()
            if row is not None:
                return row[0]
        row = conn.execute(_FAIL, params).fetchone()
    return None if row is None else row[0]


def next_due_seconds(conn: psycopg.Connection, kinds: Sequence[str]) -> float | None:
    """Seconds until a job of ``kinds`` comes due without a NOTIFY (a retry whose backoff ends,
    a lease that expires); negative when one is due now, ``None`` when none is waiting."""
    return conn.execute(_NEXT_DUE, {"kinds": check_kinds(kinds)}).fetchone()[0]
