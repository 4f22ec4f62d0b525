"""The Falcon services, each under its own gunicorn master, and the agent's job worker."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from devstack.processes import ProcessTable, wait_until
from libs.platform.settings import SERVICES

REPO = Path(__file__).resolve().parent.parent
WORKER = "agent-worker"


def answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url``, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=5):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Services:
    def __init__(self, env: Mapping[str, str], processes: ProcessTable, ports: Mapping[str, int]) -> None:
        self.env = env
        self.processes = processes
        self.ports = ports
        self.ready_seconds: dict[str, float] = {}

    def env_for_services(self) -> dict[str, str]:
        # worker counts come from libs/platform/gunicorn_config.py (WEB_WORKERS / WEB_THREADS override)
        return {**os.environ, **self.env, "PYTHONPATH": str(REPO)}

    def start(self) -> None:
        """Start every service, one after the other, then the worker. Each is waited for
        before the next starts: on two cores, four interpreters importing at once each took
        longer than the four did in turn (measured: 1.5-1.7 s each at once). How long each
        took from its start to its first answer is kept in :attr:`ready_seconds`."""
        for name in SERVICES:
            self.start_service(name)
        self.start_worker()

    def start_service(self, name: str) -> None:
        """Start (or restart) one service under gunicorn and wait until a worker answers."""
        started = time.monotonic()
        self.processes.start(
            name,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:libs.platform.gunicorn_config",
                "--bind",
                f"127.0.0.1:{self.ports[name]}",
                f"services.{name}.wsgi:app",
            ],
            env=self.env_for_services(),
            cwd=REPO,
        )
        # the master binds before its workers boot: wait for a worker to answer
        wait_until(
            lambda: answers(f"http://127.0.0.1:{self.ports[name]}/health/live"),
            timeout=60,
            what=f"the {name} service",
            log=self.processes.log_path(name),
            every=0.01,
        )
        self.ready_seconds[name] = round(time.monotonic() - started, 3)

    def start_worker(self) -> None:
        """One job worker; more can run side by side (python -m services.agent.worker)."""
        self.processes.start(
            WORKER, [sys.executable, "-m", "services.agent.worker"], env=self.env_for_services(), cwd=REPO
        )

    def stop_worker(self, *, timeout: float = 10) -> None:
        """SIGTERM: the worker finishes the job in hand, or its lease lapses to another;
        SIGKILL after ``timeout``."""
        self.processes.stop(WORKER, timeout=timeout)

    def stop(self, *, worker_timeout: float = 10) -> None:
        self.stop_worker(timeout=worker_timeout)
        for name in SERVICES:
            # SIGINT: gunicorn's quick shutdown; SIGTERM would wait up to graceful_timeout for
            # nginx's idle keepalive connections, which never end by themselves
            self.processes.stop(name, sig=signal.SIGINT)
