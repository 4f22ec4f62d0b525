"""libs.jobs.queue against the session's PostgreSQL: claims, leases, backoff, enqueue, isolation.

Claims are not per tenant: the stack's own worker is paused while these tests run (conftest.py),
they use ``generate_structure`` jobs, and judge only their own tenant's jobs.
"""

from __future__ import annotations

import collections
import threading
import uuid

import psycopg
import pytest

from libs.errors import NotFound
from libs.jobs import queue
from services.agent.jobs import JOB_SCHEMA
from tests.libs.jobs.helpers import KIND, claim_job, expire_lease, row


def test_concurrent_claims_never_share_a_job(settings, db, tenant_id):
    ids = {queue.enqueue(db, tenant_id, KIND, payload={"n": n}) for n in range(40)}
    claimed: list[str] = []
    start = threading.Barrier(2)

    def claimer(worker_id: str) -> None:
        with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
            start.wait()
            while (job := queue.claim(conn, worker_id, [KIND], 30)) is not None:
                claimed.append(job.id)  # list.append is atomic under the GIL

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    counts = collections.Counter(claimed)
    assert [job_id for job_id, n in counts.items() if n > 1] == []
    assert ids <= set(counts)
    rows = db.execute("SELECT status, attempts, count(*) FROM jobs WHERE tenant_id = %s GROUP BY 1, 2", (tenant_id,))
    assert rows.fetchall() == [("running", 1, 40)]


def test_a_second_claim_before_the_lease_expires_gets_nothing(pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    with pool.connection() as conn:
        assert claim_job(conn, "first", job_id) is not None
        assert claim_job(conn, "second", job_id) is None
        assert queue.renew(conn, job_id, "first", 30)
    assert (row(db, job_id)["locked_by"], row(db, job_id)["attempts"]) == ("first", 1)


def test_a_worker_that_lost_its_lease_cannot_write_the_job(pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    with pool.connection() as conn:
        claim_job(conn, "lapsed", job_id)
        expire_lease(db, job_id)
        assert claim_job(conn, "successor", job_id).attempts == 2

        assert not queue.renew(conn, job_id, "lapsed", 30)
        queue.report(conn, job_id, "lapsed", stage="stale", progress=90)
        assert not queue.succeed(conn, job_id, "lapsed", {"stale": True})
        assert queue.fail(conn, job_id, "lapsed", "stale", retry=False) is None
        assert queue.fail(conn, job_id, "lapsed", "stale", retry=True) is None
        current = queue.get(conn, tenant_id, job_id)
        assert (current["status"], current["stage"], current["result"], current["error"]) == (
            "running",
            None,
            None,
            None,
        )

        assert queue.succeed(conn, job_id, "successor", {"fresh": True})
        assert queue.get(conn, tenant_id, job_id)["result"] == {"fresh": True}


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap():
    for attempts in range(1, 12):
        full = min(queue.BACKOFF_CAP_SECONDS, queue.BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
        delays = {queue.backoff(attempts) for _ in range(20)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1
    assert queue.backoff(30) <= queue.BACKOFF_CAP_SECONDS


def test_every_transition_is_timestamped(settings, pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND, max_attempts=2)
    with pool.connection() as conn:
        queued = queue.get(conn, tenant_id, job_id)
        assert queued["status"] == "queued" and queued["started_at"] is None and queued["finished_at"] is None
        assert queued["created_at"] == queued["updated_at"] == queued["run_after"]

        claim_job(conn, "w", job_id)
        running = queue.get(conn, tenant_id, job_id)
        assert running["started_at"] >= queued["created_at"] and running["updated_at"] >= running["started_at"]
        assert running["finished_at"] is None

        assert queue.fail(conn, job_id, "w", "the storage answered 503", retry=True) == "queued"
        retrying = queue.get(conn, tenant_id, job_id)
        assert retrying["updated_at"] >= running["updated_at"] and retrying["run_after"] > retrying["updated_at"]
        assert retrying["started_at"] == running["started_at"]

        db.execute("UPDATE jobs SET run_after = now() WHERE id = %s", (job_id,))
        claim_job(conn, "w", job_id)
        assert queue.succeed(conn, job_id, "w", {})
        done = queue.get(conn, tenant_id, job_id)
        assert done["finished_at"] == done["updated_at"] and done["finished_at"] >= retrying["updated_at"]
        assert (done["status"], done["error"], done["started_at"]) == ("succeeded", None, running["started_at"])


def test_enqueue_is_part_of_the_callers_transaction(pool, db, tenant_id):
    with pool.connection() as conn:
        with pytest.raises(RuntimeError), conn.transaction():
            job_id = queue.enqueue(conn, tenant_id, KIND)
            raise RuntimeError("the material's insert failed")
        with pytest.raises(NotFound):
            queue.get(conn, tenant_id, job_id)
        with pytest.raises(ValueError):
            queue.enqueue(conn, tenant_id, "send_newsletter")


def test_get_is_tenant_isolated(pool, db, tenant_id, other_tenant):
    job_id = queue.enqueue(db, tenant_id, KIND, payload={"x": 1})
    with pool.connection() as conn:
        view = queue.get(conn, tenant_id, job_id)
        assert set(view) == set(JOB_SCHEMA["required"])
        for tenant, some_id in ((other_tenant.id, job_id), (tenant_id, str(uuid.uuid4())), (tenant_id, "nope")):
            with pytest.raises(NotFound):
                queue.get(conn, tenant, some_id)


def test_oldest_queued_age_counts_due_jobs_only(pool, db, tenant_id):
    job_id = queue.enqueue(db, tenant_id, KIND)
    db.execute("UPDATE jobs SET run_after = now() - interval '1 minute' WHERE id = %s", (job_id,))
    with pool.connection() as conn:
        assert queue.oldest_queued_age_seconds(conn) >= 60


def test_claims_take_turns_between_tenants_whatever_their_backlogs(pool, db, tenant_id, other_tenant):
    first_tenants = [queue.enqueue(db, tenant_id, KIND) for _ in range(5)]
    with pool.connection() as conn:
        taken = [claim_job(conn, "w", first_tenants[0])]
        late = queue.enqueue(db, other_tenant.id, KIND)  # after a backlog of four
        taken += [queue.claim(conn, "w", [KIND], 30) for _ in range(3)]
    db.execute("DELETE FROM jobs WHERE tenant_id = %s", (other_tenant.id,))
    # the other tenant was served least recently (never): its one job comes next, not fifth
    assert [job.id for job in taken] == [first_tenants[0], late, first_tenants[1], first_tenants[2]]


def test_within_a_tenant_jobs_go_by_due_time(pool, db, tenant_id):
    later = queue.enqueue(db, tenant_id, KIND)
    earlier = queue.enqueue(db, tenant_id, KIND)
    db.execute("UPDATE jobs SET run_after = now() - interval '1 minute' WHERE id = %s", (earlier,))
    with pool.connection() as conn:
        assert [claim_job(conn, "w", earlier).id, queue.claim(conn, "w", [KIND], 30).id] == [earlier, later]
