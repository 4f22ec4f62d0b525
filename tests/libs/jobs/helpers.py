"""Helpers of the job tests: waiting, claiming one's own job, expiring a lease by hand."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg.rows import dict_row

from libs.jobs import queue
from libs.jobs.queue import Job
from libs.jobs.runner import Progress, Worker

KIND = "generate_structure"


def wait_for(condition: Callable[[], object], *, timeout: float = 10.0, every: float = 0.02) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s")


def only_for(tenant_id: str, handler: Callable[[Job, Progress], dict]) -> Callable[[Job, Progress], dict]:
    """The handler for the test's tenant; any other tenant's job succeeds untouched."""
    return lambda job, progress: handler(job, progress) if job.tenant_id == tenant_id else {}


def run_until(worker: Worker, done: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """run_one until ``done()`` (other tests' jobs may be claimed first)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the job was not run in time"
        if not worker.run_one():
            time.sleep(0.02)


def claim_job(conn: psycopg.Connection, worker_id: str, job_id: str, lease: float = 30) -> Job | None:
    """Claim until this job (or nothing due) comes back; other tests' jobs may come first."""
    while (job := queue.claim(conn, worker_id, [KIND], lease)) is not None:
        if job.id == job_id:
            return job
    return None


def expire_lease(db: psycopg.Connection, job_id: str) -> None:
    # stands in for waiting out a lease (the SIGKILL test waits for a real one)
    db.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (job_id,))


def row(db: psycopg.Connection, job_id: str) -> dict:
    cur = db.cursor(row_factory=dict_row)
    return cur.execute("SELECT *, now() AS db_now FROM jobs WHERE id = %s", (job_id,)).fetchone()
