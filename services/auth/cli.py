"""Admin CLI for tenants and API keys: ``python -m services.auth.cli COMMAND …``.

Every error is one line on stderr and a non-zero exit status; a new key is printed once,
alone on its own line, so scripts can capture it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TextIO

import psycopg
import redis

from libs.access.scopes import parse_scopes
from libs.errors import DomainError
from libs.platform.redis_client import create_redis
from libs.platform.settings import MAX_STORAGE_QUOTA_BYTES, Settings, SettingsError, load_settings, parse_usd
from services.auth import tenants

MAX_NAME = 200


class CliError(Exception):
    pass


def _name(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    if len(value) > MAX_NAME or "\x00" in value or not value.isprintable():
        raise argparse.ArgumentTypeError(f"must be printable and at most {MAX_NAME} characters")
    return value


def _bounded(low: int, high: int):
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def _scopes(raw: str) -> tuple[str, ...]:
    try:
        return parse_scopes(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump
        raise CliError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="manage-tenants", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("create-tenant", help="create a tenant").add_argument("--name", required=True, type=_name)
    key = commands.add_parser("create-key", help="create an API key (printed once)")
    key.add_argument("--tenant", required=True, type=_name)
    key.add_argument("--scopes", required=True, type=_scopes, help="prep, check or prep,check")
    key.add_argument("--label", required=True, type=_name)
    key.add_argument("--rate-prep", type=_bounded(1, 1_000_000), default=60)
    key.add_argument("--rate-check", type=_bounded(1, 1_000_000), default=300)
    key.add_argument("--expires-in-days", type=_bounded(1, 36_500), default=None)
    key.add_argument("--test", action="store_true", help="make a cs_test_ key")
    commands.add_parser("list-tenants", help="tenants with status and key counts")
    commands.add_parser("list-keys", help="a tenant's keys").add_argument("--tenant", required=True, type=_name)
    commands.add_parser("revoke-key", help="revoke the key with this prefix").add_argument("--prefix", required=True)
    commands.add_parser("deactivate-tenant", help="stop all of a tenant's keys").add_argument(
        "--name", required=True, type=_name
    )
    _tenant_figure(
        commands,
        "set-quota",
        "a tenant's storage quota in bytes (0: unlimited)",
        (
            "--bytes",
            _quota,
            "bytes of material files it may store; 0: unlimited; default: the STORAGE_QUOTA_BYTES setting",
        ),
    )
    _tenant_figure(
        commands,
        "set-budget",
        "a tenant's monthly LLM budget in USD (0: none)",
        (
            "--usd",
            _budget,
            "USD of LLM calls a calendar month (UTC); 0: no limit; default: the LLM_MONTHLY_BUDGET_USD setting",
        ),
    )
    return parser


def _tenant_figure(
    commands: argparse._SubParsersAction, name: str, summary: str, figure: tuple[str, Callable[[str], object], str]
) -> None:
    """A command setting one figure of a tenant's: ``--tenant NAME`` and the figure's flag."""
    flag, parse, explained = figure
    command = commands.add_parser(name, help=summary)
    command.add_argument("--tenant", required=True, type=_name)
    command.add_argument(flag, required=True, type=parse, help=explained)


def _budget(raw: str) -> Decimal | None:
    if raw.strip() == "default":
        return None
    try:
        return parse_usd(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quota(raw: str) -> int | None:
    return None if raw.strip() == "default" else _bounded(0, MAX_STORAGE_QUOTA_BYTES)(raw)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def run(args: argparse.Namespace, conn: psycopg.Connection, redis_client: redis.Redis, out: TextIO) -> None:
    """Carry out one command (revoking a key or deactivating a tenant tells the services
    through ``redis_client`` to drop the keys they cached)."""
    match args.command:
        case "create-tenant":
            tenant_id = tenants.create_tenant(conn, args.name)
            print(f"created tenant {args.name!r} (id {tenant_id})", file=out)
        case "create-key":
            key = tenants.create_key(
                conn,
                tenant=args.tenant,
                scopes=args.scopes,
                label=args.label,
                rate_prep=args.rate_prep,
                rate_check=args.rate_check,
                expires_in_days=args.expires_in_days,
                test=args.test,
            )
            print(
                f"created key {key.prefix} for {args.tenant!r} (scopes {','.join(args.scopes)}); "
                "store it now, it is shown only once:",
                file=out,
            )
            print(key.secret, file=out)
        case "list-tenants":
            print(f"{'NAME':<32} {'STATUS':<9} {'ACTIVE KEYS':>11} {'ALL KEYS':>8}  CREATED", file=out)
            for t in tenants.list_tenants(conn):
                status = "active" if t.is_active else "inactive"
                print(
                    f"{t.name:<32} {status:<9} {t.active_keys:>11} {t.total_keys:>8}  {_when(t.created_at)}", file=out
                )
        case "list-keys":
            print(
                f"{'PREFIX':<22} {'LABEL':<20} {'SCOPES':<11} {'PREP/MIN':>8} {'CHECK/MIN':>9} "
                f"{'STATUS':<8} {'EXPIRES':<16} CREATED",
                file=out,
            )
            for k in tenants.list_keys(conn, args.tenant):
                print(
                    f"{k.prefix:<22} {k.label:<20} {','.join(k.scopes):<11} {k.rate_limit_prep:>8} "
                    f"{k.rate_limit_check:>9} {k.status:<8} {_when(k.expires_at):<16} {_when(k.created_at)}",
                    file=out,
                )
        case "revoke-key":
            print(f"revoked key {tenants.revoke_key(conn, redis_client, args.prefix)}", file=out)
        case "deactivate-tenant":
            tenants.deactivate_tenant(conn, redis_client, args.name)
            print(f"deactivated tenant {args.name!r}; all its keys stop working now", file=out)
        case "set-quota":
            tenants.set_storage_quota(conn, args.tenant, args.bytes)
            shown = {None: "the STORAGE_QUOTA_BYTES setting", 0: "unlimited"}.get(args.bytes, f"{args.bytes} bytes")
            print(f"storage quota of {args.tenant!r}: {shown}", file=out)
        case "set-budget":
            tenants.set_llm_budget(conn, args.tenant, args.usd)
            shown = {None: "the LLM_MONTHLY_BUDGET_USD setting", 0: "no limit"}.get(args.usd, f"${args.usd} a month")
            print(f"LLM budget of {args.tenant!r}: {shown}", file=out)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    # what the commands log (Redis out of reach after a revoke, say) is for the operator
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        settings: Settings = load_settings(os.environ if environ is None else environ)
        with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
            run(args, conn, create_redis(settings.redis_url, timeout=3), sys.stdout)
    except (CliError, DomainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print("error: " + "; ".join(exc.problems), file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"error: cannot reach the database: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
