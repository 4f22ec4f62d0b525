"""The durable job queue: the one owner of the ``jobs`` table, and the worker loop that drains it."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from libs.errors import NotFound

log = logging.getLogger(__name__)

# The vocabularies of the table's CHECK constraints (migrations/0004), declared once here.
KINDS = ("ingest_material", "generate_structure", "grade_submission")
STATUSES = ("queued", "running", "succeeded", "failed")
CHANNEL = "jobs_queued"  # migrations/0007's trigger NOTIFYs it with the job's kind
_LISTEN = f"LISTEN {CHANNEL}"

# Retry delays: base · 2^(attempt-1), capped, with "equal jitter" (half fixed, half random) so
# jobs that failed together against one outage do not all come back in the same second, and a
# retry is never immediate.
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 600.0
UNEXPECTED = "the job failed unexpectedly"
WORKER_STOPPED = "the worker running the job stopped responding"

_NULLABLE_STRING = {"type": "string", "nullable": True}
_NULLABLE_UUID = {"type": "string", "format": "uuid", "nullable": True}
_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": "string", "format": "date-time", "nullable": True}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "status": {"type": "string", "enum": list(STATUSES)},
        "stage": {**_NULLABLE_STRING, "description": "What a running job is doing now"},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100, "description": "Percent of the current run"},
        "attempts": {"type": "integer", "minimum": 0, "description": "Runs started so far"},
        "max_attempts": {"type": "integer", "minimum": 1},
        "course_id": _NULLABLE_UUID,
        "material_id": _NULLABLE_UUID,
        "error": {**_NULLABLE_STRING, "description": "Why the last run failed, in plain words"},
        "result": {"type": "object", "nullable": True},
        "created_at": _TIMESTAMP,
        "started_at": _NULLABLE_TIMESTAMP,
        "finished_at": _NULLABLE_TIMESTAMP,
        "updated_at": _TIMESTAMP,
        "run_after": {**_TIMESTAMP, "description": "When a queued job is due (later than now while it backs off)"},
    },
}
JOB_SCHEMA["required"] = list(JOB_SCHEMA["properties"])

_VIEW = ", ".join(JOB_SCHEMA["properties"])
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
# One statement: the subquery locks one due row, skipping rows other workers hold, and the
# UPDATE takes it, so two workers can never leave with the same job. A running job whose
# lease expired is due again (its worker died), unless it has used up its attempts (see _REAP).
_CLAIM = f"""
UPDATE jobs SET status = 'running', locked_by = %(worker)s,
       lease_expires_at = now() + make_interval(secs => %(lease)s), attempts = attempts + 1,
       started_at = coalesce(started_at, now()), updated_at = now(), stage = NULL, progress = 0
WHERE id = (
    SELECT id FROM jobs
    WHERE kind = ANY(%(kinds)s)
      AND ((status = 'queued' AND run_after <= now())
           OR (status = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
    ORDER BY run_after, created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING {_JOB}
"""  # noqa: S608 (constants only)
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


def _check_kinds(kinds: Sequence[str]) -> list[str]:
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
    _check_kinds([kind])
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
    """Take the oldest due job of these kinds (queued and due, or running with an expired
    lease) for ``worker_id``, holding it for ``lease_seconds``; ``None`` when none is due."""
    row = conn.execute(_CLAIM, {"worker": worker_id, "lease": lease_seconds, "kinds": _check_kinds(kinds)}).fetchone()
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
    rows = conn.execute(_REAP, {"error": WORKER_STOPPED, "kinds": _check_kinds(kinds)}).fetchall()
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


class Progress:
    """What a handler calls as it goes: ``progress(stage, percent)``. A new stage is written at
    once; percent changes at most every :attr:`interval` seconds (the last one is written by
    :meth:`flush`, which the lease keeper calls too), so a tight loop costs a few writes a second."""

    interval = 0.25

    def __init__(self, pool: ConnectionPool, job_id: str, worker_id: str) -> None:
        self._pool = pool
        self._job_id = job_id
        self._worker_id = worker_id
        # set by the lease keeper when the lease is lost: the next report stops the handler,
        # so a run taken over (or whose course was deleted) spends no more on LLM calls
        self.lost = threading.Event()
        self._lock = threading.Lock()
        self._written: tuple[str, int] | None = None
        self._pending: tuple[str, int] | None = None
        self._written_at = float("-inf")

    def __call__(self, stage: str, percent: int) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"job {self._job_id} is no longer held by {self._worker_id}")
        if not 0 <= percent <= 100:
            raise ValueError(f"progress must be 0-100, not {percent}")
        with self._lock:
            self._pending = (stage, percent)
            new_stage = self._written is None or stage != self._written[0]
            if new_stage or time.monotonic() - self._written_at >= self.interval:
                self._write()

    def flush(self) -> None:
        """Write the latest report if it has not been written yet."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        if self._pending is None or self._pending == self._written:
            return
        stage, percent = self._pending
        try:
            with self._pool.connection() as conn:
                report(conn, self._job_id, self._worker_id, stage=stage, progress=percent)
        except psycopg.Error as exc:  # progress is for people watching; the work goes on
            log.warning("could not report progress of job %s: %s", self._job_id, exc)
            return
        self._written, self._written_at = self._pending, time.monotonic()


class _LeaseKeeper:
    """A thread that renews a running job's lease every third of it, and notices when it is
    lost (another worker took the job over after a lapse: the database was unreachable, or
    this process was frozen longer than the lease)."""

    def __init__(self, pool: ConnectionPool, job: Job, worker_id: str, seconds: float, progress: Progress) -> None:
        self.lost = progress.lost
        self._pool, self._job, self._worker_id, self._seconds, self._progress = pool, job, worker_id, seconds, progress
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.id[:8]}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        # a renewal stuck on a dead connection must not hold the worker for ever; the thread
        # is a daemon and its lease lapses by itself
        self._thread.join(timeout=self._seconds)

    def _run(self) -> None:
        while not self._done.wait(self._seconds / 3):
            try:
                with self._pool.connection() as conn:
                    if not renew(conn, self._job.id, self._worker_id, self._seconds):
                        log.warning("lost the lease of job %s; its result will not be written", self._job.id)
                        self.lost.set()
                        return
            except psycopg.Error as exc:  # try again; the lease covers two more tries
                log.warning("could not renew the lease of job %s: %s", self._job.id, exc)
            self._progress.flush()


Handler = Callable[[Job, Progress], dict]


class Worker:
    """The loop a worker process runs: LISTEN jobs_queued on its own connection, claim, run the
    handler while a background thread renews the lease, then succeed/fail. Polls every
    ``poll_seconds`` as a fallback (and wakes when a backoff ends or a lease expires)."""

    # run() waits for notifications in slices this long, to see ``stop`` promptly
    stop_check_seconds = 0.25

    def __init__(
        self,
        pool: ConnectionPool,
        conninfo: str,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str,
        lease_seconds: float = 30,
        poll_seconds: float = 5,
        on_failed: Callable[[Job, str], None] | None = None,
    ) -> None:
        self.worker_id = worker_id
        self._pool = pool
        self._conninfo = conninfo
        self._handlers = dict(handlers)
        self._kinds = _check_kinds(list(self._handlers))
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._on_failed = on_failed

    def run(self, stop: threading.Event) -> None:
        """Run jobs until ``stop`` is set (seen within :attr:`stop_check_seconds` when idle; a
        running job is finished first). Database outages are logged and waited out, and the
        LISTEN connection is opened again."""
        listener: psycopg.Connection | None = None
        delay = 0.5
        try:
            while not stop.is_set():
                try:
                    if listener is None:
                        listener = psycopg.connect(self._conninfo, autocommit=True)
                        # LISTEN before claiming: a job committed from here on wakes us even
                        # if it lands while we are still draining the queue
                        listener.execute(_LISTEN)
                    while not stop.is_set() and self.run_one():
                        pass
                    self._wait(listener, stop)
                    delay = 0.5
                except psycopg.Error as exc:
                    log.warning("worker %s: database unavailable, retry in %.1f s: %s", self.worker_id, delay, exc)
                    if listener is not None:
                        listener.close()
                        listener = None
                    stop.wait(delay)
                    delay = min(delay * 2, max(self._poll, 1.0))
        finally:
            if listener is not None:
                listener.close()

    def _wait(self, listener: psycopg.Connection, stop: threading.Event) -> None:
        # Until a NOTIFY of one of our kinds, the poll interval, or the next job coming due.
        with self._pool.connection() as conn:
            due_in = conn.execute(_NEXT_DUE, {"kinds": self._kinds}).fetchone()[0]
        # (a due job that claim skipped is held by another worker's claim for a moment: no busy loop)
        timeout = self._poll if due_in is None else min(self._poll, max(due_in, 0.0) + 0.05)
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            kinds = [n.payload for n in listener.notifies(timeout=min(left, self.stop_check_seconds), stop_after=1)]
            if any(kind in self._kinds for kind in kinds):
                # a burst of NOTIFYs needs one round of claims, not one each
                for _ in listener.notifies(timeout=0):
                    pass
                return

    def run_one(self) -> bool:
        """Claim and run at most one job; ``False`` if none was due."""
        with self._pool.connection() as conn:
            reaped = reap(conn, self._kinds)
            job = claim(conn, self.worker_id, self._kinds, self._lease)
        for dead in reaped:  # outside the checkout: on_failed takes a connection of its own
            log.error("job %s (%s) failed: its worker stopped during the last attempt", dead.id, dead.kind)
            self._failed(dead, WORKER_STOPPED)
        if job is None:
            return False
        self._execute(job)
        return True

    def _execute(self, job: Job) -> None:
        progress = Progress(self._pool, job.id, self.worker_id)
        result: dict = {}
        error: str | None = None
        retry = False
        with _LeaseKeeper(self._pool, job, self.worker_id, self._lease, progress) as lease:
            try:
                result = self._handlers[job.kind](job, progress)
                if result is None:
                    result = {}
                json.dumps(result)  # a result the table cannot store is the handler's bug, found here
            except LeaseLost:
                log.warning("job %s was taken over by another worker; this run stops here", job.id)
                return
            except Permanent as exc:
                error = str(exc) or "the job cannot be done"
            except Transient as exc:
                retry, error = True, str(exc) or "the job failed for a passing reason"
            except Exception:
                # its text may hold internals (SQL, paths, keys): the log gets it, the API does not
                log.exception("job %s (%s) raised unexpectedly", job.id, job.kind)
                retry = True
                error = f"{UNEXPECTED}; it will be retried" if job.attempts < job.max_attempts else UNEXPECTED
        if lease.lost.is_set():
            return  # another worker runs the job now; what this run found is not written
        if error is None:
            with self._pool.connection() as conn:
                if not succeed(conn, job.id, self.worker_id, result):
                    log.warning("job %s finished after its lease was lost; result not written", job.id)
            return
        progress.flush()  # where it stopped stays visible
        with self._pool.connection() as conn:
            status = fail(conn, job.id, self.worker_id, error, retry=retry)
        log.info("job %s (%s) attempt %d failed, now %s: %s", job.id, job.kind, job.attempts, status, error)
        if status == "failed":
            self._failed(job, error)

    def _failed(self, job: Job, message: str) -> None:
        if self._on_failed is None:
            return
        try:
            self._on_failed(job, message)
        except Exception:
            log.exception("on_failed of job %s raised", job.id)
