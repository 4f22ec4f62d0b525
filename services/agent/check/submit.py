"""Submitting an answer: the submission and its grading job are written together, then the
API grades it itself and waits up to GRADING_WAIT_SECONDS; past that the client gets 202
and the grade arrives later.

The job is the safety net, held back from workers for the wait plus one LLM timeout, and held
back again for as long as the API is still grading (the router may spend several timeouts on
retries and fallbacks): if the API's own grading finishes first it completes the still-queued
job in the same transaction that stores the grade (:func:`libs.jobs.queue.complete_queued`), so
a worker never grades it twice and the model is billed once; if the API's grading fails the
job is made due at once, and if the API process dies the hold lapses: a worker grades it then
(services/agent/check/job.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import psycopg
from psycopg_pool import ConnectionPool

from libs.errors import BudgetExceeded
from libs.jobs import queue
from libs.llm import budget
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.providers import require_a_provider
from libs.llm.router import LlmRouter
from libs.platform.settings import Settings
from libs.store import structure
from services.agent.check import grading, submissions

log = logging.getLogger(__name__)
KIND = "grade_submission"
MAX_ATTEMPTS = 3
# Gradings running at once in one API process (threads that wait on a model, started as
# needed); past it a grading queues here, and one that could not start within the wait is left
# to the worker. gunicorn's request threads for the agent should exceed it by the reads'
# share (search, progress, jobs): each synchronous submission holds one for up to the wait.
GRADING_THREADS = 32
# Submissions one API process lets wait for their grade at once, per tenant and in all (of the
# agent's 32 request threads, libs/platform/gunicorn_config.py): past either a submission
# answers 202 at once with its job made due, and a worker grades it. So a tenant sending
# answers in bulk holds at most a few request threads, never the ones other tenants' reads need.
WAITING_PER_TENANT = 4
WAITING_IN_ALL = 16


class _Waiting:
    """Counts the requests waiting for a grade, by tenant."""

    def __init__(self, per_tenant: int, in_all: int) -> None:
        self._per_tenant, self._in_all = per_tenant, in_all
        self._lock = threading.Lock()
        self._by_tenant: dict[str, int] = {}

    def enter(self, tenant_id: str) -> bool:
        """Take a place for one more waiting request of the tenant; ``False`` when full."""
        with self._lock:
            if sum(self._by_tenant.values()) >= self._in_all or self._by_tenant.get(tenant_id, 0) >= self._per_tenant:
                return False
            self._by_tenant[tenant_id] = self._by_tenant.get(tenant_id, 0) + 1
            return True

    def leave(self, tenant_id: str) -> None:
        with self._lock:
            self._by_tenant[tenant_id] -= 1
            if not self._by_tenant[tenant_id]:
                del self._by_tenant[tenant_id]


class Submitter:
    """Creates submissions and grades them within the configured wait."""

    def __init__(self, pool: ConnectionPool, router: LlmRouter, settings: Settings) -> None:
        self._pool = pool
        self._router = router
        self._settings = settings
        self._wait = settings.grading_wait_seconds
        # what the API may still spend on a grade after the wait, before a worker takes over
        self._hold_back = self._wait + settings.llm_timeout_seconds
        self._executor = ThreadPoolExecutor(max_workers=GRADING_THREADS, thread_name_prefix="grading")
        self._waiting = _Waiting(WAITING_PER_TENANT, WAITING_IN_ALL)

    def submit(
        self, tenant_id: str, course_id: str, exercise_id: str, student_id: str, answer: str, strategy: str
    ) -> dict:
        """The new submission: graded when grading finished within the wait, else ``grading``
        (its ``job_id`` follows it). NotFound for an exercise not in the tenant's course;
        Unavailable when no LLM provider is configured (only once the exercise is found: an id
        that is not the tenant's is 404 whatever the configuration)."""
        submission_id = str(uuid.uuid4())
        with self._pool.connection() as conn, conn.transaction():
            exercise = structure.exercise(conn, tenant_id, course_id, exercise_id)
            require_a_provider(self._settings)
            budget.require_room(conn, tenant_id, self._settings.llm_monthly_budget_usd)
            job_id = queue.enqueue(
                conn,
                tenant_id,
                KIND,
                course_id=course_id,
                payload={"submission_id": submission_id, "strategy": strategy},
                max_attempts=MAX_ATTEMPTS,
                delay_seconds=self._hold_back,
            )
            submissions.create(
                conn,
                tenant_id,
                submission_id=submission_id,
                course_id=course_id,
                exercise_id=exercise_id,
                student_id=student_id,
                answer=answer,
                job_id=job_id,
            )
        if not self._waiting.enter(tenant_id):  # 202 now: the worker grades it, due at once
            with self._pool.connection() as conn:
                queue.postpone(conn, tenant_id, job_id, 0)
                return submissions.get(conn, tenant_id, submission_id)
        try:
            start_by = time.monotonic() + self._wait
            work = self._executor.submit(
                self._grade, tenant_id, submission_id, job_id, exercise, answer, strategy, start_by
            )
            with contextlib.suppress(FutureTimeout):  # past the wait: 202, the grade lands when ready
                work.result(timeout=self._wait)
        finally:
            self._waiting.leave(tenant_id)
        with self._pool.connection() as conn:
            return submissions.get(conn, tenant_id, submission_id)

    def _grade(
        self,
        tenant_id: str,
        submission_id: str,
        job_id: str,
        exercise: dict,
        answer: str,
        strategy: str,
        start_by: float,
    ) -> None:
        if time.monotonic() > start_by:
            return  # queued behind other gradings past the wait: the job's worker will do it
        try:
            with _Hold(self._pool, tenant_id, job_id, self._hold_back):
                result = grading.grade(
                    self._router,
                    tenant_id=tenant_id,
                    job_id=job_id,
                    exercise=exercise,
                    answer=answer,
                    strategy=strategy,
                )
        except (AllModelsFailed, NoProviderConfigured, BudgetExceeded) as exc:
            # the job tries again at once (each failure is in llm_calls); the client follows it
            log.warning("grading submission %s in the API failed, its job will retry: %s", submission_id, exc)
            return
        except Exception:
            log.exception("grading submission %s in the API raised; its job will retry", submission_id)
            return
        with self._pool.connection() as conn, conn.transaction():
            if queue.complete_queued(conn, tenant_id, job_id, grading.summary(submission_id, result)):
                grading.store(conn, tenant_id, submission_id, result)
            else:
                log.info("submission %s was taken by a worker first; this grade is not stored", submission_id)


class _Hold:
    """While the API grades: the job held back from workers, renewed every third of the hold,
    so a grading longer than one LLM timeout is not started a second time by a worker. On a
    failure the job is made due at once: the worker retries now, not when the hold ends."""

    def __init__(self, pool: ConnectionPool, tenant_id: str, job_id: str, seconds: float) -> None:
        self._pool, self._tenant, self._job, self._seconds = pool, tenant_id, job_id, seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"hold-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Hold:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        if exc_type is not None:
            self._postpone(0)

    def _renew(self) -> None:
        while not self._done.wait(self._seconds / 3):
            self._postpone(self._seconds)

    def _postpone(self, seconds: float) -> None:
        try:
            with self._pool.connection() as conn:
                queue.postpone(conn, self._tenant, self._job, seconds)
        except psycopg.Error as exc:  # the hold lapses by itself: a worker grades it then
            log.warning("could not hold back grading job %s: %s", self._job, exc)
