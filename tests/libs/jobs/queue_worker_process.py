"""A worker process for tests/libs/jobs/test_queue.py to SIGKILL mid-job (not a test module).

Usage: python queue_worker_process.py CONNINFO WORKER_ID LEASE_SECONDS TENANT_ID

Runs ``generate_structure`` jobs: the tenant's report stage "sleeping" and then sleep far
longer than any test waits; other tenants' jobs (left over by other tests) succeed at once.
"""

from __future__ import annotations

import sys
import threading
import time

from psycopg_pool import ConnectionPool

from libs.jobs.queue import Job
from libs.jobs.runner import Progress, Worker


def main() -> None:
    conninfo, worker_id, lease, tenant_id = sys.argv[1:5]

    def sleep(job: Job, progress: Progress) -> dict:
        if job.tenant_id != tenant_id:
            return {}
        progress("sleeping", 10)
        time.sleep(120)
        return {"slept": True}

    with ConnectionPool(conninfo, min_size=1, max_size=4, kwargs={"autocommit": True}) as pool:
        worker = Worker(pool, conninfo, {"generate_structure": sleep}, worker_id=worker_id, lease_seconds=float(lease))
        worker.run(threading.Event())


if __name__ == "__main__":
    main()
