"""Redis for the rate limits and the key cache epoch."""

from __future__ import annotations

from pathlib import Path

from devstack.processes import ProcessTable, port_open, wait_until
from devstack.tools import binary


class Redis:
    def __init__(self, root: Path, processes: ProcessTable, port: int, *, persistent: bool) -> None:
        self.data = root / "redis"
        self.processes = processes
        self.port = port
        self.persistent = persistent

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        save = ["--save", "60 1"] if self.persistent else ["--save", ""]
        argv = [binary("redis-server", "/usr/bin/redis-server"), "--bind", "127.0.0.1", "--port", str(self.port)]
        argv += ["--dir", str(self.data), "--daemonize", "no", "--appendonly", "no", *save]
        self.processes.start("redis", argv)
        wait_until(lambda: port_open(self.port), timeout=20, what="Redis", log=self.processes.log_path("redis"))

    def stop(self) -> None:
        self.processes.stop("redis")
