"""Submitting an answer: the submission and its grading job are written together, then the
API grades it itself and waits up to GRADING_WAIT_SECONDS; past that the client gets 202
and the grade arrives later.

The job is the safety net, held back from workers for the wait plus one LLM timeout: if the
API's own grading finishes first it completes the still-queued job in the same transaction
that stores the grade (:func:`libs.jobs.queue.complete_queued`), so a worker never grades it
twice; if the API process dies or its grading fails, a worker grades it (services/agent/check/job.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from psycopg_pool import ConnectionPool

from libs.jobs import queue
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
        start_by = time.monotonic() + self._wait
        work = self._executor.submit(
            self._grade, tenant_id, submission_id, job_id, exercise, answer, strategy, start_by
        )
        with contextlib.suppress(FutureTimeout):  # past the wait: 202, the grade lands when ready
            work.result(timeout=self._wait)
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
            result = grading.grade(
                self._router, tenant_id=tenant_id, job_id=job_id, exercise=exercise, answer=answer, strategy=strategy
            )
        except (AllModelsFailed, NoProviderConfigured) as exc:
            # the job tries again (each failure is in llm_calls); the client follows the job
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
