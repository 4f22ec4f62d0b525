"""Schema migrations with yoyo: ``python -m libs.platform.migrate apply|rollback|rollback-all|status``.

``migrations/`` is the schema's single source of truth; this only points yoyo at it with the
connection settings every service uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from yoyo import get_backend, read_migrations

from libs.platform.settings import Settings, SettingsError, load_settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy-style URL yoyo wants, from the same settings the services use."""
    return (
        f"postgresql+psycopg://{quote(settings.postgres_user, safe='')}:"
        f"{quote(settings.postgres_password, safe='')}@{settings.postgres_host}:"
        f"{settings.postgres_port}/{quote(settings.postgres_db, safe='')}"
    )


def apply(settings: Settings) -> list[str]:
    """Apply every pending migration; return their ids."""
    backend = get_backend(database_url(settings))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def rollback(settings: Settings, *, steps: int | None = 1) -> list[str]:
    """Roll back the newest ``steps`` applied migrations (all of them when ``None``)."""
    backend = get_backend(database_url(settings))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if steps is None else applied[:steps]
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def status(settings: Settings) -> list[tuple[str, bool]]:
    """Every migration with whether it is applied, oldest first."""
    backend = get_backend(database_url(settings))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    applied = {m.id for m in backend.to_rollback(migrations)}
    return [(m.id, m.id in applied) for m in migrations]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The command line; exit status 2 for bad settings."""
    parser = argparse.ArgumentParser(prog="migrate", description=__doc__)
    parser.add_argument("command", choices=["apply", "rollback", "rollback-all", "status"])
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ if environ is None else environ)
    except SettingsError as exc:
        print("error: " + "; ".join(exc.problems), file=sys.stderr)
        return 2
    if args.command == "apply":
        done = apply(settings)
        print("applied: " + (", ".join(done) if done else "nothing, the schema is current"))
    elif args.command == "status":
        for migration_id, is_applied in status(settings):
            print(f"{'applied' if is_applied else 'pending':<8} {migration_id}")
    else:
        done = rollback(settings, steps=None if args.command == "rollback-all" else 1)
        print("rolled back: " + (", ".join(done) if done else "nothing, no migration is applied"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
