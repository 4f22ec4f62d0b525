"""libs.jobs.runner against the session's PostgreSQL: a worker's runs, retries, leases kept and
lost, progress, wake-up by NOTIFY, and a worker process killed mid-job.

The stack's own worker is paused (conftest.py); handlers finish any other tenant's job at once.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from libs.jobs import queue
from libs.jobs.queue import Job, Permanent, Transient
from libs.jobs.runner import Progress, Worker
from tests.libs.jobs.helpers import KIND, claim_job, expire_lease, only_for, row, run_until, wait_for

ROOT = Path(__file__).resolve().parents[3]
WORKER_SCRIPT = Path(__file__).with_name("queue_worker_process.py")


def test_a_job_whose_worker_was_killed_runs_again_after_its_lease_expires(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    process = subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), settings.postgres_conninfo, "doomed", "1.5", tenant_id],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for(lambda: row(db, job_id)["stage"] == "sleeping", timeout=20)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    killed = row(db, job_id)
    assert (killed["status"], killed["locked_by"], killed["attempts"]) == ("running", "doomed", 1)

    rescued_at = []

    def rescue(job: Job, progress: Progress) -> dict:
        rescued_at.append(db.execute("SELECT now()").fetchone()[0])
        return {"rescued": True}

    rescuer = Worker(pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, rescue)}, worker_id="rescuer")
    run_until(rescuer, lambda: row(db, job_id)["status"] == "succeeded", timeout=15)

    done = row(db, job_id)
    assert rescued_at[0] >= killed["lease_expires_at"]  # not a moment before the dead worker's lease ran out
    assert (done["attempts"], done["locked_by"], done["result"]) == (2, "rescuer", {"rescued": True})
    assert done["started_at"] == killed["started_at"]  # the job's first start


def test_a_worker_that_loses_its_lease_mid_run_does_not_write_its_result(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    running, release = threading.Event(), threading.Event()

    def slow(job: Job, progress: Progress) -> dict:
        running.set()
        release.wait(10)
        return {"stale": True}

    worker = Worker(pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, slow)}, worker_id="slow")
    thread = threading.Thread(target=run_until, args=(worker, running.is_set))
    thread.start()
    assert running.wait(10)
    expire_lease(db, job_id)
    with pool.connection() as conn:
        assert claim_job(conn, "successor", job_id) is not None
    release.set()
    thread.join(10)
    taken = row(db, job_id)
    assert (taken["status"], taken["locked_by"], taken["result"]) == ("running", "successor", None)


def test_transient_errors_are_retried_with_backoff_until_attempts_run_out(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND, max_attempts=2)
    failed: list[tuple[str, str]] = []

    def flaky(job: Job, progress: Progress) -> dict:
        raise Transient("the language model answered 503")

    worker = Worker(
        pool,
        settings.postgres_conninfo,
        {KIND: only_for(tenant_id, flaky)},
        worker_id="w",
        on_failed=lambda job, message: failed.append((job.id, message)),
    )
    run_until(worker, lambda: row(db, job_id)["attempts"] == 1 and row(db, job_id)["status"] == "queued")
    first = row(db, job_id)
    assert first["error"] == "the language model answered 503"
    assert first["run_after"] - first["db_now"] > datetime.timedelta(seconds=queue.BACKOFF_BASE_SECONDS / 2 - 1)
    assert first["finished_at"] is None and failed == []

    db.execute("UPDATE jobs SET run_after = now() WHERE id = %s", (job_id,))  # the backoff, fast-forwarded
    run_until(worker, lambda: row(db, job_id)["status"] == "failed")
    last = row(db, job_id)
    assert (last["attempts"], last["error"]) == (2, "the language model answered 503")
    assert last["finished_at"] is not None
    assert failed == [(job_id, "the language model answered 503")]


def test_a_permanent_error_fails_at_once(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND, max_attempts=3)
    failed: list[str] = []

    def unreadable(job: Job, progress: Progress) -> dict:
        raise Permanent("the file is not a readable PDF")

    worker = Worker(
        pool,
        settings.postgres_conninfo,
        {KIND: only_for(tenant_id, unreadable)},
        worker_id="w",
        on_failed=lambda job, message: failed.append(message),
    )
    run_until(worker, lambda: row(db, job_id)["status"] != "queued")
    done = row(db, job_id)
    assert (done["status"], done["attempts"], done["error"]) == ("failed", 1, "the file is not a readable PDF")
    assert failed == ["the file is not a readable PDF"]


def test_an_unexpected_exception_is_retried_and_its_text_stays_in_the_log(settings, pool, db, tenant_id, caplog):
    job_id = queue.enqueue(db, tenant_id, KIND, max_attempts=2)

    def buggy(job: Job, progress: Progress) -> dict:
        raise KeyError("password=hunter2 in /srv/secret.conf")

    worker = Worker(pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, buggy)}, worker_id="w")
    run_until(worker, lambda: row(db, job_id)["attempts"] == 1 and row(db, job_id)["status"] == "queued")
    assert row(db, job_id)["error"] == "the job failed unexpectedly; it will be retried"
    assert "hunter2" in caplog.text  # the traceback is logged for operators

    db.execute("UPDATE jobs SET run_after = now() WHERE id = %s", (job_id,))
    run_until(worker, lambda: row(db, job_id)["status"] == "failed")
    assert row(db, job_id)["error"] == "the job failed unexpectedly"


def test_a_job_whose_worker_died_on_its_last_attempt_fails(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND, max_attempts=1)
    with pool.connection() as conn:
        claim_job(conn, "died", job_id)
    expire_lease(db, job_id)
    failed: list[str] = []
    worker = Worker(
        pool,
        settings.postgres_conninfo,
        {KIND: lambda job, progress: {}},
        worker_id="w",
        on_failed=lambda job, message: failed.append(job.id),
    )
    run_until(worker, lambda: row(db, job_id)["status"] == "failed")
    assert (row(db, job_id)["attempts"], row(db, job_id)["error"]) == (1, queue.WORKER_STOPPED)
    assert failed == [job_id]


def test_stage_and_progress_are_readable_through_get(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    release = threading.Event()

    def extract(job: Job, progress: Progress) -> dict:
        progress("extracting", 40)
        release.wait(10)
        return {"chunks": 3}

    worker = Worker(pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, extract)}, worker_id="w")
    thread = threading.Thread(target=run_until, args=(worker, release.is_set))
    thread.start()
    try:
        with pool.connection() as conn:
            view = wait_for(lambda: (v := queue.get(conn, tenant_id, job_id))["stage"] == "extracting" and v)
            assert (view["status"], view["progress"]) == ("running", 40)
    finally:
        release.set()
        thread.join(10)
    with pool.connection() as conn:
        wait_for(lambda: queue.get(conn, tenant_id, job_id)["status"] == "succeeded")
        done = queue.get(conn, tenant_id, job_id)
    assert (done["progress"], done["result"]) == (100, {"chunks": 3})


def test_a_burst_of_progress_is_throttled_and_the_latest_value_lands(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    release = threading.Event()

    def busy(job: Job, progress: Progress) -> dict:
        for percent in range(100):
            progress("embedding", percent)
        release.wait(10)
        return {}

    # a short lease: its keeper, renewing every 0.3 s, writes the throttled last value
    worker = Worker(
        pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, busy)}, worker_id="w", lease_seconds=0.9
    )
    thread = threading.Thread(target=run_until, args=(worker, release.is_set))
    thread.start()
    try:
        wait_for(lambda: row(db, job_id)["progress"] == 99)
        assert row(db, job_id)["stage"] == "embedding"
    finally:
        release.set()
        thread.join(10)


class _IdleSignallingWorker(Worker):
    """Tells the test when it has nothing to do and waits for a NOTIFY."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.idle = threading.Event()

    def _listen(self, listener: psycopg.Connection, stop: threading.Event, timeout: float) -> None:
        # set once it knows when the next job is due and blocks on the socket: from here
        # only a NOTIFY wakes it before the poll interval
        self.idle.set()
        super()._listen(listener, stop, timeout)


def test_notify_wakes_an_idle_worker_at_once(settings, pool, db, tenant_id):
    started: dict[str, float] = {}

    def note(job: Job, progress: Progress) -> dict:
        started[job.id] = time.monotonic()
        return {}

    worker = _IdleSignallingWorker(
        pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, note)}, worker_id="w", poll_seconds=30
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        assert worker.idle.wait(10)
        enqueued = time.monotonic()
        job_id = queue.enqueue(db, tenant_id, KIND)  # autocommit: committed on return
        wait_for(lambda: job_id in started, timeout=5)
    finally:
        stop.set()
        thread.join(10)
    latency = started[job_id] - enqueued
    print(f"\nNOTIFY wake-up: job started {latency * 1000:.1f} ms after its commit (poll interval 30 s)")
    assert latency < 2


def test_a_run_that_lost_its_job_can_neither_hold_it_nor_report_progress(pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    with pool.connection() as conn:
        lapsed = claim_job(conn, "lapsed", job_id)
        with conn.transaction():
            queue.hold(conn, lapsed)  # still ours: the results may be written
        expire_lease(db, job_id)
        successor = claim_job(conn, "successor", job_id)
        with pytest.raises(queue.LeaseLost), conn.transaction():
            queue.hold(conn, lapsed)
        with conn.transaction():
            queue.hold(conn, successor)
    progress = Progress(pool, job_id, "lapsed")
    progress.lost.set()  # what the lease keeper does when a renewal finds the job gone
    with pytest.raises(queue.LeaseLost):
        progress("structuring", 60)


def test_a_worker_runs_jobs_side_by_side(settings, pool, db, tenant_id):
    started: list[str] = []
    both_started = threading.Event()

    def long(job: Job, progress: Progress) -> dict:
        started.append(job.id)
        if len(started) == 2:
            both_started.set()
        assert both_started.wait(10), "the second job did not start while the first ran"
        return {}

    ids = [queue.enqueue(db, tenant_id, KIND) for _ in range(2)]
    worker = Worker(pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, long)}, worker_id="two-at-once")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_many, args=(stop, 2), daemon=True)
    thread.start()
    try:
        wait_for(lambda: all(row(db, job_id)["status"] == "succeeded" for job_id in ids))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert sorted(started) == sorted(ids)


def test_a_running_job_whose_row_is_deleted_stops_within_a_second(settings, pool, db, tenant_id):
    stopped_at: list[float] = []

    def endless(job: Job, progress: Progress) -> dict:
        try:
            while True:
                progress("working", 1)
                time.sleep(0.05)
        finally:
            stopped_at.append(time.monotonic())

    job_id = queue.enqueue(db, tenant_id, KIND)
    worker = Worker(pool, settings.postgres_conninfo, {KIND: only_for(tenant_id, endless)}, worker_id="cancelled")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_many, args=(stop, 1), daemon=True)
    thread.start()
    try:
        wait_for(lambda: row(db, job_id)["status"] == "running")
        deleted_at = time.monotonic()
        db.execute("DELETE FROM jobs WHERE id = %s", (job_id,))  # as a deleted material's cascade does
        wait_for(lambda: stopped_at, timeout=5)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert stopped_at[0] - deleted_at < 1.5
