"""The agent's worker process: ``python -m services.agent.worker``. It claims queued jobs
(woken at once by NOTIFY) and runs them; several run side by side safely."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid

from libs.jobs import runner
from libs.llm.registry import load_registry
from libs.llm.router import LlmRouter
from libs.platform.db import create_pool
from libs.platform.log import configure_logging
from libs.platform.runtime import settings_or_exit
from libs.platform.storage import create_storage
from libs.webhooks.sender import Sender
from services.agent.check.job import GradeSubmission
from services.agent.embedding import EmbedConcepts
from services.agent.ingest import Ingestion
from services.agent.structuring import Structuring

log = logging.getLogger(__name__)


def main() -> int:
    """Run until SIGTERM or SIGINT; the job in hand finishes or its lease lapses to another worker."""
    settings = settings_or_exit(os.environ)
    configure_logging(settings, "agent-worker")
    # per job: its handler, its lease keeper and its progress; then the senders and the listeners
    pool = create_pool(
        settings, name="agent-worker", max_size=3 * settings.worker_concurrency + settings.webhook_senders + 2
    )
    pool.open(wait=True, timeout=30)
    storage = create_storage(settings)
    ingestion = Ingestion(settings, pool, storage)
    router = LlmRouter(settings, load_registry(), pool)
    grading = GradeSubmission(pool, router)
    structuring = Structuring(pool, router)
    # what a job that failed for good leaves behind: a material in error, a submission failed,
    # and each one's webhook event
    on_failed = {
        "ingest_material": ingestion.failed,
        "grade_submission": grading.failed,
        "generate_structure": structuring.failed,
    }
    worker = runner.Worker(
        pool,
        settings.postgres_conninfo,
        {
            "ingest_material": ingestion,
            "generate_structure": structuring,
            "grade_submission": grading,
            "embed_concepts": EmbedConcepts(pool, router),
        },
        worker_id=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
        on_failed=lambda job, message: on_failed[job.kind](job, message) if job.kind in on_failed else None,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    senders = None
    if settings.webhook_senders:
        sender = Sender(
            pool,
            settings.postgres_conninfo,
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private,
            ca_bundle=settings.webhook_ca_bundle,
            threads=settings.webhook_senders,
        )
        senders = threading.Thread(target=sender.run, args=(stop,), name="webhooks", daemon=True)
        senders.start()
    log.info("worker started")
    try:
        worker.run_many(stop, settings.worker_concurrency)
    finally:
        if senders is not None:
            senders.join(timeout=2 * settings.webhook_timeout_seconds + 5)
        pool.close()
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
