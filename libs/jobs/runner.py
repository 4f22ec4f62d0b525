"""The loop a worker process runs: claim a job, run its handler while a thread renews the lease,
report progress, then succeed or fail it, all through :mod:`libs.jobs.queue`."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping

import psycopg
from psycopg_pool import ConnectionPool

from libs.jobs.queue import (
    CANCEL_CHANNEL,
    CHANNEL,
    UNEXPECTED,
    WORKER_STOPPED,
    Job,
    LeaseLost,
    Permanent,
    Transient,
    check_kinds,
    claim,
    fail,
    next_due_seconds,
    reap,
    renew,
    report,
    succeed,
)

log = logging.getLogger(__name__)
_LISTEN = f"LISTEN {CHANNEL}"


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
        self._kinds = check_kinds(list(self._handlers))
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._on_failed = on_failed
        # the jobs this process runs now, so a cancellation reaches the one it names
        self._running: dict[str, Progress] = {}
        self._running_lock = threading.Lock()

    def run_many(self, stop: threading.Event, jobs_at_once: int) -> None:
        """Run up to ``jobs_at_once`` jobs side by side (a thread each, so one long job does not
        hold every small one) until ``stop`` is set, and stop a running job within a second of
        its row being deleted (its material or course was)."""
        threads = [
            threading.Thread(target=self.run, args=(stop,), name=f"jobs-{n}", daemon=True) for n in range(jobs_at_once)
        ]
        threads.append(threading.Thread(target=self.watch_cancellations, args=(stop,), name="cancel", daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def watch_cancellations(self, stop: threading.Event) -> None:
        """LISTEN for deleted running jobs until ``stop``; one of ours is told to stop (its
        handler sees it at its next progress report; a material's reader is killed)."""
        while not stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as listener:
                    listener.execute(f"LISTEN {CANCEL_CHANNEL}")
                    while not stop.is_set():
                        for notice in listener.notifies(timeout=self.stop_check_seconds, stop_after=1):
                            with self._running_lock:
                                progress = self._running.get(notice.payload)
                            if progress is not None:
                                log.info("job %s was deleted while it ran; stopping it", notice.payload)
                                progress.lost.set()
            except psycopg.Error as exc:
                log.warning("worker %s: cannot hear cancellations, retry in 1 s: %s", self.worker_id, exc)
                stop.wait(1)

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
            due_in = next_due_seconds(conn, self._kinds)
        # (a due job that claim skipped is held by another worker's claim for a moment: no busy loop)
        self._listen(listener, stop, self._poll if due_in is None else min(self._poll, max(due_in, 0.0) + 0.05))

    def _listen(self, listener: psycopg.Connection, stop: threading.Event, timeout: float) -> None:
        """Block on the LISTEN connection for up to ``timeout`` seconds, until a NOTIFY of one of
        our kinds (or ``stop``)."""
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
        with self._running_lock:
            self._running[job.id] = progress
        try:
            self._execute_with(job, progress)
        finally:
            with self._running_lock:
                self._running.pop(job.id, None)

    def _execute_with(self, job: Job, progress: Progress) -> None:
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
                log.warning("job %s was taken over by another worker, or deleted; this run stops here", job.id)
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
