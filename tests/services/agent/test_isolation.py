"""A material is read in a child process within a memory and a time budget: past either the
child is gone with what it took, and the error says which limit was met."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devstack.stack import REPO
from libs.store.materials import SOURCE_TYPES
from services.agent.documents import Chunk
from services.agent.ingest import READ_SECONDS
from services.agent.processors import isolation
from services.agent.processors.errors import NotConfigured, SourceUnavailable, UnreadableMaterial


# readers the child runs: module-level, so they reach it by name
def echo(text: str, *, kind: str = "paragraph") -> list[Chunk]:
    return [Chunk(kind, text)]


def hungry() -> list[Chunk]:
    held = [bytearray(64 * 1024 * 1024) for _ in range(32)]  # 2 GiB, 64 MiB at a time
    return [Chunk("paragraph", str(len(held)))]


def slow() -> list[Chunk]:
    time.sleep(30)
    return []


def wordy() -> list[Chunk]:
    one = Chunk("paragraph", "x" * 1000)
    return [one] * 40_000  # 40 million characters, held once


def refusing(kind: type[Exception]) -> list[Chunk]:
    raise kind("the file is damaged")


def buggy() -> list[Chunk]:
    return {}["missing"]


def test_what_the_reader_returns_comes_back():
    assert isolation.read(echo, "hello", kind="heading", seconds=30) == [Chunk("heading", "hello")]


def test_a_reader_past_the_memory_budget_is_refused_and_the_worker_keeps_nothing_of_it():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(isolation.OverBudget, match=r"^reading it needed more than 512 MiB of memory, the most"):
        isolation.read(hungry, seconds=60)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024  # KiB


def test_a_reader_past_its_time_is_stopped():
    started = time.monotonic()
    with pytest.raises(isolation.OverBudget, match=r"^reading it took longer than 1 s, the most one material may take"):
        isolation.read(slow, seconds=1)
    assert time.monotonic() - started < 5


def test_a_document_over_the_text_budget_is_refused():
    with pytest.raises(UnreadableMaterial, match="longer than 32 million characters"):
        isolation.read(wordy, seconds=60)


@pytest.mark.parametrize("kind", [UnreadableMaterial, NotConfigured, SourceUnavailable])
def test_the_readers_own_errors_come_back_as_they_were(kind):
    with pytest.raises(kind, match=r"^the file is damaged$") as caught:
        isolation.read(refusing, kind, seconds=30)
    assert type(caught.value) is kind


def test_a_bug_in_a_reader_fails_as_a_bug_not_as_a_damaged_file():
    with pytest.raises(RuntimeError, match="KeyError"):
        isolation.read(buggy, seconds=30)


def test_every_source_type_has_a_reading_budget():
    assert set(READ_SECONDS) == set(SOURCE_TYPES)


_WORKER = """
import threading, time
from services.agent.processors import isolation
from tests.services.agent.test_isolation import echo, slow
isolation.read(echo, "warm", seconds=30)  # the fork server is up
threading.Thread(target=lambda: isolation.read(slow, seconds=60), daemon=True).start()
print("reading", flush=True)
time.sleep(60)
"""


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for child in children for d in _descendants(child)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_worker_killed_mid_read_leaves_no_fork_server_or_reader_behind():
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        assert worker.stdout.readline() == b"reading\n"
        time.sleep(0.5)  # the slow reader is forked
        left = _descendants(worker.pid)
        assert len(left) >= 2  # the fork server and the reader, at least
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 5
    while any(map(_alive, left)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in left if _alive(pid)]


def test_a_reading_called_off_ends_its_child_within_a_second():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(isolation.Cancelled):
        isolation.read(slow, seconds=30, cancel=cancel)
    assert time.monotonic() - started < 1.5
