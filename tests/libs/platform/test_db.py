"""libs.platform.db's retry of a transaction PostgreSQL aborted to break a deadlock."""

import psycopg
import pytest

from libs.platform.db import retry_on_deadlock


def test_a_transaction_aborted_by_a_deadlock_is_run_again():
    attempts = []

    def work() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return "done"

    assert retry_on_deadlock(work) == "done" and len(attempts) == 2


def test_a_deadlock_every_time_is_raised_after_the_last_attempt():
    attempts = []

    def work() -> None:
        attempts.append(1)
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    with pytest.raises(psycopg.errors.DeadlockDetected):
        retry_on_deadlock(work, attempts=3)
    assert len(attempts) == 3


def test_other_errors_are_not_retried():
    attempts = []

    def work() -> None:
        attempts.append(1)
        raise psycopg.errors.UniqueViolation("duplicate")

    with pytest.raises(psycopg.errors.UniqueViolation):
        retry_on_deadlock(work)
    assert len(attempts) == 1
