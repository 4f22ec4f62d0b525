"""A stack's processes that no pid file names any more are found and stopped (devstack/strays.py),
and nothing else is: not another stack's, not a shell with the same settings."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import strays
from devstack.services import REPO

SLEEPER = "import sys, time; time.sleep(60)"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.kill()
        process.wait()


def run(started: list, argv: list[str], *, cwd: Path, port: int) -> int:
    process = subprocess.Popen(argv, cwd=cwd, env={"POSTGRES_PORT": str(port), "PATH": "/usr/bin:/bin"})
    started.append(process)
    return process.pid


def test_a_lost_worker_and_a_process_in_the_data_directory_are_the_stacks(tmp_path, started):
    data = tmp_path / "stack" / "redis"
    data.mkdir(parents=True)
    worker = run(started, [sys.executable, "-c", SLEEPER, "-m", "services.agent.worker"], cwd=REPO, port=25432)
    redis_like = run(started, ["sleep", "60"], cwd=data, port=1)
    found = strays.stack_processes(tmp_path / "stack", REPO, 25432)
    assert {worker, redis_like} <= set(found)


def test_another_stacks_worker_and_a_shell_with_the_same_settings_are_not(tmp_path, started):
    (tmp_path / "stack").mkdir()
    other = run(started, [sys.executable, "-c", SLEEPER, "-m", "services.agent.worker"], cwd=REPO, port=25433)
    shell = run(started, ["sleep", "60"], cwd=REPO, port=25432)
    found = strays.stack_processes(tmp_path / "stack", REPO, 25432)
    assert other not in found and shell not in found


def test_stop_ends_them(tmp_path, started):
    worker = run(started, [sys.executable, "-c", SLEEPER, "-m", "services.agent.worker"], cwd=REPO, port=25434)
    strays.stop(strays.stack_processes(tmp_path, REPO, 25434), timeout=5)
    assert started[0].wait(timeout=5) is not None and worker not in strays.stack_processes(tmp_path, REPO, 25434)


def test_a_tool_run_from_under_the_data_directory_is_not_the_stacks(tmp_path, started):
    tools = tmp_path / "stack" / "tools" / "venv"
    tools.mkdir(parents=True)
    tool = run(started, [sys.executable, "-c", SLEEPER, str(tools / "check-jsonschema")], cwd=tools, port=25435)
    assert tool not in strays.stack_processes(tmp_path / "stack", REPO, 25435)


def test_a_server_naming_its_data_folder_on_its_command_line_is_the_stacks(tmp_path, started):
    seaweed = tmp_path / "stack" / "seaweedfs"
    seaweed.mkdir(parents=True)
    server = run(started, [sys.executable, "-c", SLEEPER, f"-dir={seaweed}"], cwd=REPO, port=25436)
    assert server in strays.stack_processes(tmp_path / "stack", REPO, 25436)
