"""Starting, finding and stopping the stack's background processes by pid file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devstack.ports import free_port

__all__ = ["ProcessTable", "free_port", "port_open", "process_identity", "wait_until"]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None, every: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    tail = ""
    if log is not None and log.exists():
        lines = log.read_text(errors="replace").splitlines()[-30:]
        tail = f"\n--- last lines of {log} ---\n" + "\n".join(lines)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def process_identity(pid: int) -> dict | None:
    """What tells this process from a later one given the same pid: the boot and its start
    time (field 22 of /proc/<pid>/stat, clock ticks since boot); the command line is kept
    for people reading the file. None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    start_time = int(stat.rsplit(")", 1)[1].split()[19])
    argv = [part.decode(errors="replace") for part in cmdline.split(b"\0") if part]
    return {"pid": pid, "boot_id": _boot_id(), "start_time": start_time, "cmdline": argv}


def _started_at(start_time: int) -> float:
    """Epoch seconds of a start time in clock ticks since boot."""
    lines = Path("/proc/stat").read_text().splitlines()
    boot = next(int(line.split()[1]) for line in lines if line.startswith("btime"))
    return boot + start_time / os.sysconf("SC_CLK_TCK")


class ProcessTable:
    """Processes started in their own session, one pid file each under ``run_dir``.

    ``<name>.pid`` holds the bare pid (bench/ reads it as a number); ``<name>.identity``
    beside it records the process' identity, checked before any signal so a pid the
    kernel has since given to another process is never signalled."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _identity_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.identity"

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        self.stop(name)
        with open(self.log_path(name), "ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        # the start time is set at fork; the command line is the one asked for, since /proc
        # shows it empty while the exec is still finishing
        identity = process_identity(process.pid) or {"pid": process.pid, "boot_id": _boot_id(), "start_time": None}
        self.record(name, {**identity, "cmdline": list(argv)})
        return process.pid

    def record(self, name: str, identity: Mapping) -> None:
        """Write the pid file and its identity (the identity first: a pid file is never
        without one)."""
        self._identity_file(name).write_text(json.dumps(dict(identity)) + "\n")
        self._pid_file(name).write_text(str(identity["pid"]))

    def forget(self, name: str) -> None:
        self._pid_file(name).unlink(missing_ok=True)
        self._identity_file(name).unlink(missing_ok=True)

    def pid(self, name: str) -> int | None:
        """The pid of ``name`` while the process that was started still runs. A pid now
        held by another process (reused after a reboot or a crash) drops the pid file."""
        path = self._pid_file(name)
        try:
            pid = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid <= 0:
            self.forget(name)
            return None
        live = process_identity(pid)
        if live is None or not self._same_process(name, live, path):
            self.forget(name)
            return None
        return pid

    def _same_process(self, name: str, live: Mapping, pid_file: Path) -> bool:
        try:
            recorded = json.loads(self._identity_file(name).read_text())
        except (OSError, ValueError):
            recorded = None
        if isinstance(recorded, dict) and recorded.get("pid") == live["pid"] and recorded.get("start_time"):
            # boot and start time only: redis and others rewrite their command line
            return recorded.get("boot_id") == live["boot_id"] and recorded["start_time"] == live["start_time"]
        # A pid file from before identities were recorded: it was written right after the
        # start, so the process it names started before it; one started later reuses the
        # pid. (The slack allows for btime's whole seconds and small clock steps.)
        return _started_at(live["start_time"]) <= pid_file.stat().st_mtime + 5

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def stop(self, name: str, *, timeout: float = 15, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the process group (SIGTERM unless ``sig`` says otherwise), then SIGKILL
        whatever is left after ``timeout``."""
        pid = self.pid(name)
        self.forget(name)
        if pid is None:
            return
        _signal_group(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.05)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)

    def names(self) -> list[str]:
        return sorted(path.stem for path in self.run_dir.glob("*.pid"))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs; zombies do not count (they hold no
    ports or files, and only their parent can reap them)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)  # reap the leader when it is our own child
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False
