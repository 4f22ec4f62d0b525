"""Pid files are checked against the live process before any signal is sent."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from devstack.postgres import Postgres
from devstack.processes import ProcessTable, process_identity


@pytest.fixture
def table(tmp_path):
    return ProcessTable(tmp_path / "run", tmp_path / "logs")


@pytest.fixture
def bystander():
    """An unrelated process in its own group, as a reused pid would be."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def assert_still_running(process: subprocess.Popen) -> None:
    """A signal sent by mistake would have ended it within the second we wait."""
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=1)


def test_a_started_process_is_recorded_with_its_identity_and_stopped(table):
    pid = table.start("sleeper", ["sleep", "60"])
    identity = json.loads((table.run_dir / "sleeper.identity").read_text())
    assert identity["pid"] == pid
    assert identity["start_time"] == process_identity(pid)["start_time"]
    assert identity["cmdline"] == ["sleep", "60"]
    assert (table.run_dir / "sleeper.pid").read_text() == str(pid)  # bench/ reads a bare number
    assert table.pid("sleeper") == pid
    table.stop("sleeper", timeout=5)
    assert process_identity(pid) is None
    assert table.names() == []


def test_a_pid_now_held_by_another_process_is_not_signalled(table, bystander):
    live = process_identity(bystander.pid)
    table.record("redis", {**live, "start_time": live["start_time"] - 100, "cmdline": ["redis-server"]})
    table.stop("redis", timeout=1)
    assert_still_running(bystander)
    assert not (table.run_dir / "redis.pid").exists()
    assert not (table.run_dir / "redis.identity").exists()


def test_a_pid_from_an_earlier_boot_is_not_signalled(table, bystander):
    table.record("nginx", {**process_identity(bystander.pid), "boot_id": "an-earlier-boot"})
    table.stop("nginx", timeout=1)
    assert_still_running(bystander)


def test_an_old_pid_file_without_identity_written_before_the_process_started_is_not_signalled(table, bystander):
    pid_file = table.run_dir / "auth.pid"
    pid_file.write_text(str(bystander.pid))
    hour_ago = time.time() - 3600
    os.utime(pid_file, (hour_ago, hour_ago))
    table.stop("auth", timeout=1)
    assert_still_running(bystander)
    assert not pid_file.exists()


def test_an_old_pid_file_without_identity_still_stops_its_own_process(table):
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    (table.run_dir / "auth.pid").write_text(str(process.pid))
    table.stop("auth", timeout=5)
    assert process_identity(process.pid) is None  # stopped (and reaped by stop)


def test_a_stale_postmaster_pid_naming_another_process_is_removed_unsignalled(tmp_path, bystander):
    postgres = Postgres(tmp_path, {}, 1, persistent=False)
    postgres.pgdata.mkdir()
    lock = postgres.pgdata / "postmaster.pid"
    lock.write_text(f"{bystander.pid}\n{postgres.pgdata}\n1700000000\n25432\n")
    postgres.stop()
    assert_still_running(bystander)
    assert not lock.exists()
