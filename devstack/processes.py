"""Starting, finding and stopping the stack's background processes by pid file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        lines = log.read_text(errors="replace").splitlines()[-30:]
        tail = f"\n--- last lines of {log} ---\n" + "\n".join(lines)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


class ProcessTable:
    """Processes started in their own session, one pid file each under ``run_dir``."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

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
        (self.run_dir / f"{name}.pid").write_text(str(process.pid))
        return process.pid

    def pid(self, name: str) -> int | None:
        path = self.run_dir / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text().strip() or 0)
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return pid

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def stop(self, name: str, *, timeout: float = 15, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the process group (SIGTERM unless ``sig`` says otherwise), then SIGKILL
        whatever is left after ``timeout``."""
        pid = self.pid(name)
        (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
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
