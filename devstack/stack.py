"""The stack as a whole: its settings and ports, and ``Stack`` starting and stopping the parts in order."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from devstack import strays
from devstack.gateway import Gateway
from devstack.ports import Ports, PortTaken, check_free, grpc_port, is_ephemeral
from devstack.postgres import PG_SYSTEM_USER, Postgres
from devstack.processes import ProcessTable, wait_until
from devstack.redis import Redis
from devstack.s3 import SeaweedS3
from devstack.services import REPO, WORKER, Services
from libs.http.health import CACHE_SECONDS
from libs.platform.settings import SERVICES, Settings

# How long /health must answer 200 without a break for the stack to count as whole: longer than
# each process behind the gateway caches its probes.
STEADY_SECONDS = CACHE_SECONDS + 0.5

__all__ = [
    "PG_SYSTEM_USER",
    "REPO",
    "PortTaken",
    "Ports",
    "Stack",
    "default_environment",
    "move_out_of_ephemeral",
    "ports_from_environment",
    "read_env_file",
    "write_env_file",
]


def port_settings(ports: Ports) -> dict[str, str]:
    """The settings that carry a port."""
    return {
        "POSTGRES_PORT": str(ports.postgres),
        "S3_ENDPOINT": f"http://127.0.0.1:{ports.s3}",
        "REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
        "SEAWEED_MASTER_PORT": str(ports.seaweed_master),
        "SEAWEED_VOLUME_PORT": str(ports.seaweed_volume),
        "SEAWEED_FILER_PORT": str(ports.seaweed_filer),
        "GATEWAY_PORT": str(ports.gateway),
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.services.items()},
    }


def default_environment(ports: Ports, *, environment: str = "development") -> dict[str, str]:
    """Settings for a fresh local stack; secrets are random per stack."""
    return {
        "ENVIRONMENT": environment,
        "LOG_LEVEL": "INFO",
        "POSTGRES_USER": "course_supporter",
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "POSTGRES_DB": "course_supporter",
        "POSTGRES_HOST": "127.0.0.1",
        "S3_ACCESS_KEY": "cs" + secrets.token_hex(8),
        "S3_SECRET_KEY": secrets.token_hex(20),
        "S3_BUCKET": "course-materials",
        **port_settings(ports),
    }


def ports_from_environment(env: dict[str, str]) -> Ports:
    return Ports(
        postgres=int(env["POSTGRES_PORT"]),
        redis=int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]),
        s3=int(env["S3_ENDPOINT"].rsplit(":", 1)[1]),
        seaweed_master=int(env["SEAWEED_MASTER_PORT"]),
        seaweed_volume=int(env["SEAWEED_VOLUME_PORT"]),
        seaweed_filer=int(env["SEAWEED_FILER_PORT"]),
        gateway=int(env["GATEWAY_PORT"]),
        services={name: int(env[f"{name.upper()}_PORT"]) for name in SERVICES},
    )


def move_out_of_ephemeral(env: dict[str, str], defaults: Ports) -> tuple[dict[str, str], list[str]]:
    """``env`` with every port inside the ephemeral range (a SeaweedFS gRPC twin included)
    moved to its default, and what moved. Settings made before the ports left that range
    keep their passwords and every other value."""
    ports = ports_from_environment(env)
    moved = []
    seaweed = {"s3", "seaweed_master", "seaweed_volume", "seaweed_filer"}
    for item in dataclasses.fields(Ports):
        if item.name == "services":
            continue
        port = getattr(ports, item.name)
        if is_ephemeral(port) or (item.name in seaweed and is_ephemeral(grpc_port(port))):
            setattr(ports, item.name, getattr(defaults, item.name))
            moved.append(f"{item.name} {port} -> {getattr(ports, item.name)}")
    for name, port in ports.services.items():
        if is_ephemeral(port):
            ports.services[name] = defaults.services[name]
            moved.append(f"{name} {port} -> {ports.services[name]}")
    before = port_settings(ports_from_environment(env))
    changed = {key: value for key, value in port_settings(ports).items() if before[key] != value}
    return {**env, **changed}, moved


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = ["# Local stack settings, generated on first `make up`; kept with the data."]
    lines += [f"{key}={value}" for key, value in env.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


class Stack:
    """All local processes under ``root`` (``.data/`` for ``make up``, a temp dir in tests)."""

    def __init__(self, root: Path, env: dict[str, str], *, persistent: bool = True) -> None:
        self.root = root.resolve()
        self.env = env
        self.ports = ports_from_environment(env)
        self.persistent = persistent
        self.processes = ProcessTable(self.root / "run", self.root / "logs")
        self.gateway_url = f"http://127.0.0.1:{self.ports.gateway}"
        self.postgres = Postgres(self.root, env, self.ports.postgres, persistent=persistent)
        self.redis = Redis(self.root, self.processes, self.ports.redis, persistent=persistent)
        self.s3 = SeaweedS3(self.root, env, self.processes, self.ports)
        self.services = Services(env, self.processes, self.ports.services)
        # the JSON body limit the services enforce, so the gateway's cap is the same number
        max_json_bytes = int(env.get("MAX_JSON_BYTES") or Settings.max_json_bytes)
        self.gateway = Gateway(
            self.root, self.processes, self.ports.gateway, self.ports.services, max_json_bytes=max_json_bytes
        )

    # each part on its own, for tests that stop and restart one
    def start_postgres(self) -> None:
        self.postgres.start()

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_redis(self) -> None:
        self.redis.start()

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_s3(self) -> None:
        self.s3.start()

    def stop_s3(self) -> None:
        self.s3.stop()

    def ensure_bucket(self) -> None:
        self.s3.ensure_bucket()

    def freeze(self, part: str) -> None:
        """Stop ``part`` (``postgres``, ``redis`` or ``s3``) answering with its sockets open, as a
        frozen process or a network partition does: SIGSTOP to each of its processes."""
        self._signal(part, signal.SIGSTOP)

    def thaw(self, part: str) -> None:
        self._signal(part, signal.SIGCONT)

    def _signal(self, part: str, signum: int) -> None:
        if part == "postgres":
            postmaster = self.postgres.postmaster_pid()
            pids = [] if postmaster is None else [postmaster, *_children(postmaster)]
        else:
            pid = self.processes.pid({"redis": "redis", "s3": "seaweedfs"}[part])
            pids = [] if pid is None else [pid, *_children(pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def service_env(self) -> dict[str, str]:
        return self.services.env_for_services()

    def start_services(self) -> None:
        self.services.start()

    def stop_services(self) -> None:
        # a throw-away stack's jobs go with its data: no waiting for the worker's job in hand
        self.services.stop(worker_timeout=10 if self.persistent else 1)

    def render_gateway(self) -> Path:
        return self.gateway.render()

    def start_gateway(self) -> None:
        self.gateway.start()

    def stop_gateway(self) -> None:
        self.gateway.stop()

    def migrate(self) -> list[str]:
        from libs.platform.migrate import apply
        from libs.platform.settings import load_settings

        return apply(load_settings(self.env))

    def check_ports(self) -> None:
        """Raise ``PortTaken`` naming each component whose port another process holds."""
        check_free(self.ports.listening())

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/health", timeout=6) as response:  # noqa: S310
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def up(self) -> None:
        """Start everything and wait for /health; how long each step took goes to
        ``run/startup.json`` (``make bench`` reports it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        steps: dict[str, float] = {}

        def step(name: str, action: Callable[[], object]) -> None:
            began = time.monotonic()
            action()
            steps[name] = round(time.monotonic() - began, 3)

        # whatever this stack left running is restarted, so its own ports do not count as taken
        step("stop what ran", self.down)
        step("check ports", self.check_ports)
        step("postgres", self.start_postgres)
        step("redis", self.start_redis)
        step("s3", self.start_s3)
        step("migrate", self.migrate)
        step("bucket", self.ensure_bucket)
        step("services", self.start_services)
        step("gateway", self.start_gateway)
        step(
            "health", lambda: wait_until(lambda: self.health()[0] == 200, timeout=60, what="GET /health to answer 200")
        )
        report = {
            "seconds": round(time.monotonic() - started, 3),
            "steps": steps,
            "services_ready_seconds": self.services.ready_seconds,
        }
        (self.root / "run" / "startup.json").write_text(json.dumps(report, indent=2) + "\n")

    def wait_whole(self, *, timeout: float = 60) -> None:
        """Until ``/health`` has answered 200 for :data:`STEADY_SECONDS` on end. One 200 may come
        from a process that probed after a dependency came back while another still serves,
        for up to its cache's second, the failure it saw just before: only a steady run of
        200s says every process behind the gateway sees the stack whole."""
        since: list[float] = []

        def steady() -> bool:
            if self.health()[0] != 200:
                since.clear()
                return False
            since[:] = since or [time.monotonic()]
            return time.monotonic() - since[0] > STEADY_SECONDS

        wait_until(steady, timeout=timeout, what=f"/health to answer 200 for {STEADY_SECONDS:g} s on end")

    def restore(self) -> None:
        """Whatever a test or a scenario stopped or froze runs again: each process group
        recorded here gets SIGCONT, and each part no longer running is started, in the order
        :meth:`up` starts them. A whole stack is left as it is."""
        for name in self.processes.names():
            pid = self.processes.pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGCONT)
        self.thaw("postgres")
        if self.postgres.postmaster_pid() is None:
            self.start_postgres()
        if not self.processes.running("redis"):
            self.start_redis()
        if not self.processes.running("seaweedfs"):
            self.start_s3()
        for name in SERVICES:
            if not self.processes.running(name):
                self.services.start_service(name)
        if not self.processes.running(WORKER):
            self.services.start_worker()
        if not self.processes.running("nginx"):
            self.start_gateway()

    def down(self) -> None:
        self.stop_gateway()
        self.stop_services()
        self.stop_s3()
        self.stop_redis()
        self.stop_postgres()
        for name in self.processes.names():  # anything a newer version of the stack started
            self.processes.stop(name)
        # and whatever no pid file names any more (see devstack/strays.py)
        strays.stop(strays.stack_processes(self.root, REPO, self.ports.postgres))


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a postmaster's backends, say), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # the field after the parenthesised command name: state, then the parent's pid
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
