"""Processes of a stack that its pid files no longer name: started by an earlier ``make up``, a
test or a reliability scenario whose record was lost or overwritten, they would claim the next
stack's jobs with the wrong settings. ``make down`` and ``make up`` stop them too.

A process is the stack's when it works in the data directory of one of the stack's servers
(PostgreSQL, Redis), names one on its command line (SeaweedFS, nginx), or is one of this
checkout's Python services or workers (run from the checkout, ``services.…`` on its command
line) whose environment points at the stack's PostgreSQL port. A shell or a one-off command
with the same settings is neither, and nor is anything else under the data directory (the
tests' validators in ``.data/tools`` run from there).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

# the folders under a stack's root where its servers keep their data (devstack/postgres.py,
# redis.py, s3.py, gateway.py)
SERVERS = ("postgres", "redis", "seaweedfs", "nginx")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _ancestors() -> set[int]:
    """This process and its parents: never strays, whatever they look like."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        fields = _read(Path(f"/proc/{pid}/stat")).rsplit(b")", 1)[-1].split()
        pid = int(fields[1]) if len(fields) > 1 else 0
    return found


def _alive(pid: int) -> bool:
    """Running, that is: a zombie holds no port or file, and only its parent can reap it."""
    fields = _read(Path(f"/proc/{pid}/stat")).rsplit(b")", 1)[-1].split()
    return bool(fields) and fields[0] != b"Z"


def _serves(data: Path, cwd: Path, command: str) -> bool:
    """Whether a process works in ``data`` or names it (or a path in it) on its command line."""
    return cwd == data or data in cwd.parents or re.search(rf"{re.escape(str(data))}(/|\s|$)", command) is not None


def stack_processes(root: Path, repo: Path, postgres_port: int) -> list[int]:
    """Pids of every process that belongs to the stack of ``root`` (see the module docstring)."""
    repo = repo.resolve()
    servers = [(root / name).resolve() for name in SERVERS]
    mine = _ancestors()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in mine:
            continue
        argv = _read(entry / "cmdline").split(b"\0")
        command = b" ".join(argv).decode(errors="replace")
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if any(
            cwd == data or data in cwd.parents or re.search(rf"{re.escape(str(data))}(/|\s|$)", command)
            for data in servers
        ):
            found.append(pid)
        elif cwd == repo and "services." in command and "python" in Path(argv[0].decode(errors="replace")).name:
            environ = dict(line.split(b"=", 1) for line in _read(entry / "environ").split(b"\0") if b"=" in line)
            if environ.get(b"POSTGRES_PORT") == str(postgres_port).encode():
                found.append(pid)
    return found


def stop(pids: list[int], *, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL whatever is left after ``timeout``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        for pid in pids:  # reap our own children, so they do not linger as zombies
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
