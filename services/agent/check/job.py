"""The ``grade_submission`` job: a worker grades a submission the API did not finish grading
(its process stopped, or the models failed while it waited)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from psycopg_pool import ConnectionPool

from libs.errors import BudgetExceeded, NotFound
from libs.jobs import queue
from libs.llm.errors import AllModelsFailed, NoProviderConfigured
from libs.llm.router import LlmRouter
from libs.store import structure
from services.agent.check import grading, submissions

log = logging.getLogger(__name__)


class GradeSubmission:
    """The job handler, and what marks the submission ``failed`` when its job fails for good."""

    def __init__(self, pool: ConnectionPool, router: LlmRouter) -> None:
        self._pool = pool
        self._router = router

    def __call__(self, job: queue.Job, progress: Callable[[str, int], None]) -> dict:
        tenant, submission_id = job.tenant_id, job.payload["submission_id"]
        progress("reading the exercise", 5)
        with self._pool.connection() as conn:
            try:
                submission = submissions.get(conn, tenant, submission_id)
            except NotFound:
                raise queue.Permanent("the submission was deleted before it could be graded") from None
            if submission["status"] != "grading":
                return {"submission_id": submission_id, "status": submission["status"]}
            try:
                exercise = structure.exercise(
                    conn, tenant, str(submission["course_id"]), str(submission["exercise_id"])
                )
            except NotFound:
                raise queue.Permanent(
                    "the exercise no longer exists: the course's structure was replaced before grading"
                ) from None
        progress("grading", 20)
        try:
            result = grading.grade(
                self._router,
                tenant_id=tenant,
                job_id=job.id,
                exercise=exercise,
                answer=submission["answer"],
                strategy=job.payload.get("strategy", "default"),
            )
        except NoProviderConfigured as exc:
            raise queue.Permanent(str(exc)) from None
        except BudgetExceeded as exc:
            raise queue.Permanent(f"not graded: {exc.description}") from None
        except AllModelsFailed as exc:
            # the detail (provider messages, model names) is for operators: log and llm_calls
            log.warning("grading job %s: %s", job.id, exc)
            raise queue.Transient("the language models could not grade the answer") from None
        with self._pool.connection() as conn, conn.transaction():
            queue.hold(conn, job)  # a run that lost its job writes nothing
            grading.store(conn, tenant, submission_id, result)
        return grading.summary(submission_id, result)

    def failed(self, job: queue.Job, message: str) -> None:
        """The job failed for good: so does its submission, with the job's message."""
        with self._pool.connection() as conn:
            submissions.record_failure(conn, job.tenant_id, job.payload["submission_id"], message)
