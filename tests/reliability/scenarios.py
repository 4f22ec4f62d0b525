"""The reliability scenarios in the order they run, and how one is run and reported."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from tests.reliability.faults import (
    gunicorn_worker_killed,
    postgres_frozen,
    postgres_stopped,
    redis_frozen,
    redis_stopped,
    s3_frozen,
    s3_stopped,
)
from tests.reliability.harness import Context, Report
from tests.reliability.jobs import worker_kill
from tests.reliability.load import backup_under_load, slow_clients
from tests.reliability.surface import bad_input, isolation, rate_limit


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Context, Report], None]
    # whether it fits make test's budget (the others need minutes of fuzzing or wait out
    # the gateway's 15-20 s timeouts; tests/e2e covers their ground in small)
    in_make_test: bool


SCENARIOS = [
    Scenario("bad-input", bad_input, in_make_test=False),
    Scenario("isolation", isolation, in_make_test=True),
    Scenario("rate-limit", rate_limit, in_make_test=True),
    # PostgreSQL and S3 stopped: 13 and 15 s each; in make test, tests/e2e/test_recovery.py stops
    # PostgreSQL (and Redis) in small, and tests/services/uploads/test_failures.py stops S3 mid-upload
    Scenario("postgres-stopped", postgres_stopped, in_make_test=False),
    Scenario("redis-stopped", redis_stopped, in_make_test=True),
    # frozen (SIGSTOP): sockets open, nothing answers; make test freezes PostgreSQL in small
    # (tests/e2e/test_recovery.py)
    Scenario("postgres-frozen", postgres_frozen, in_make_test=False),
    Scenario("redis-frozen", redis_frozen, in_make_test=False),
    # S3's restart is ~3 s (a 1 s election timeout), and the uploads service's janitor aborts
    # the cut uploads within a second of S3's return
    Scenario("s3-stopped", s3_stopped, in_make_test=False),
    Scenario("s3-frozen", s3_frozen, in_make_test=False),
    # 11 s; make test kills a worker process mid-job in tests/libs/jobs/test_runner.py
    Scenario("worker-killed", worker_kill, in_make_test=False),
    Scenario("gunicorn-worker-killed", gunicorn_worker_killed, in_make_test=True),
    Scenario("slow-clients", slow_clients, in_make_test=False),
    # tests/deploy/test_backup.py restores a dump taken under writes in make test already
    Scenario("backup-under-load", backup_under_load, in_make_test=False),
]


def run_scenario(scenario: Scenario, context: Context) -> Report:
    """Run one scenario; an exception is a failure in its report, not the end of the suite."""
    report = Report(scenario.name)
    started = time.monotonic()
    try:
        scenario.run(context, report)
    except (Exception, BaseExceptionGroup) as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        report.failures.append(f"{type(exc).__name__} at {where.name}:{where.lineno}: {str(exc)[:300]}")
    report.seconds = time.monotonic() - started
    return report
