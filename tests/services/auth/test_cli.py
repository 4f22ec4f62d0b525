"""The admin CLI, run in-process through ``main`` and once as a real subprocess."""

import re
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest

from libs.access.apikeys import KEY_PATTERN, hash_key
from services.auth.cli import main


@pytest.fixture
def cli(stack, capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv), environ=stack.env)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def name() -> str:
    return f"Company {uuid.uuid4().hex[:8]}"


def test_create_tenant_prints_its_id(cli, name, db):
    code, out, _ = cli("create-tenant", "--name", name)
    assert code == 0
    tenant_id, is_active = db.execute("SELECT id, is_active FROM tenants WHERE name = %s", (name,)).fetchone()
    assert is_active and f"(id {tenant_id})" in out


def test_duplicate_tenant_is_one_line_error(cli, name):
    cli("create-tenant", "--name", name)
    code, _out, err = cli("create-tenant", "--name", name.upper())
    assert code == 1
    assert err == f"error: tenant {name.upper()!r} already exists\n"


def test_create_key_prints_the_key_once_on_its_own_line(cli, name, db):
    cli("create-tenant", "--name", name)
    code, out, _err = cli(
        "create-key",
        "--tenant",
        name,
        "--scopes",
        "prep,check",
        "--label",
        "prod",
        "--rate-prep",
        "10",
        "--rate-check",
        "20",
        "--expires-in-days",
        "30",
    )
    assert code == 0
    lines = out.splitlines()
    assert KEY_PATTERN.match(lines[-1])
    assert sum(1 for line in lines if "cs_live_" in line and KEY_PATTERN.match(line)) == 1
    row = db.execute(
        "SELECT scopes, rate_limit_prep, rate_limit_check, expires_at > now() + interval '29 days', "
        "label FROM api_keys WHERE key_hash = %s",
        (hash_key(lines[-1]),),
    ).fetchone()
    assert row == (["prep", "check"], 10, 20, True, "prod")


def test_create_key_defaults_to_60_and_300_per_minute(cli, name, db):
    cli("create-tenant", "--name", name)
    key = cli("create-key", "--tenant", name, "--scopes", "check", "--label", "x")[1].splitlines()[-1]
    row = db.execute(
        "SELECT rate_limit_prep, rate_limit_check, expires_at FROM api_keys WHERE key_hash = %s", (hash_key(key),)
    ).fetchone()
    assert row == (60, 300, None)


def test_create_key_for_unknown_tenant_fails(cli):
    code, _, err = cli("create-key", "--tenant", "nobody-" + uuid.uuid4().hex, "--scopes", "prep", "--label", "x")
    assert code == 1 and err.startswith("error: unknown tenant")


@pytest.mark.parametrize("scopes", ["admin", "prep,admin", "", ","])
def test_create_key_with_bad_scope_fails(cli, name, scopes):
    cli("create-tenant", "--name", name)
    code, _, err = cli("create-key", "--tenant", name, "--scopes", scopes, "--label", "x")
    assert code == 1 and err.startswith("error: argument --scopes:") and err.count("\n") == 1


@pytest.mark.parametrize("rate", ["0", "-5", "ten", "99999999"])
def test_create_key_with_bad_rate_fails(cli, name, rate):
    cli("create-tenant", "--name", name)
    code, _, err = cli("create-key", "--tenant", name, "--scopes", "prep", "--label", "x", "--rate-prep", rate)
    assert code == 1 and err.startswith("error: argument --rate-prep:")


def test_list_tenants_shows_status_and_key_counts(cli, name):
    cli("create-tenant", "--name", name)
    cli("create-key", "--tenant", name, "--scopes", "prep", "--label", "a")
    prefix = cli("create-key", "--tenant", name, "--scopes", "prep", "--label", "b")[1].splitlines()[-1][:20]
    cli("revoke-key", "--prefix", prefix)
    code, out, _ = cli("list-tenants")
    line = next(line for line in out.splitlines() if line.startswith(name))
    assert code == 0
    assert re.search(r"\bactive\s+1\s+2\b", line)


def test_list_keys_shows_each_key_without_the_secret(cli, name):
    cli("create-tenant", "--name", name)
    secret = cli("create-key", "--tenant", name, "--scopes", "prep,check", "--label", "ci")[1].splitlines()[-1]
    code, out, _ = cli("list-keys", "--tenant", name)
    assert code == 0
    assert secret[:20] in out and secret not in out
    assert "prep,check" in out and "active" in out


def test_list_keys_of_unknown_tenant_fails(cli):
    assert cli("list-keys", "--tenant", "ghost-" + uuid.uuid4().hex)[0] == 1


def test_revoke_key_by_prefix(cli, name, db):
    cli("create-tenant", "--name", name)
    secret = cli("create-key", "--tenant", name, "--scopes", "prep", "--label", "x")[1].splitlines()[-1]
    code, out, _ = cli("revoke-key", "--prefix", secret[:20])
    assert code == 0 and secret[:20] in out
    assert db.execute(
        "SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_hash = %s", (hash_key(secret),)
    ).fetchone() == (True,)
    again = cli("revoke-key", "--prefix", secret[:20])
    assert again[0] == 1 and "already revoked" in again[2]


def test_revoke_key_with_unknown_prefix_fails(cli):
    code, _, err = cli("revoke-key", "--prefix", "cs_live_zzzzzzzz")
    assert code == 1 and err.startswith("error: no key has the prefix")


def test_revoke_key_with_ambiguous_prefix_fails_and_revokes_nothing(cli, name, db):
    cli("create-tenant", "--name", name)
    tenant_id = db.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()[0]
    for suffix in ("aaaa0001", "aaaa0002"):  # two keys whose prefixes share 'cs_test_ffffaaaa'
        db.execute(
            "INSERT INTO api_keys (tenant_id, key_hash, key_prefix, label, scopes) "
            "VALUES (%s, %s, %s, 'x', ARRAY['prep'])",
            (tenant_id, hash_key(uuid.uuid4().hex), f"cs_test_ffff{suffix}"),
        )
    code, _, err = cli("revoke-key", "--prefix", "cs_test_ffffaaaa")
    assert code == 1 and "ambiguous" in err
    assert db.execute(
        "SELECT count(*) FROM api_keys WHERE tenant_id = %s AND revoked_at IS NULL", (tenant_id,)
    ).fetchone() == (2,)


def test_revoke_key_with_too_short_prefix_fails(cli):
    code, _, err = cli("revoke-key", "--prefix", "cs_live_")
    assert code == 1 and "too short" in err


def test_deactivate_tenant(cli, name, db):
    cli("create-tenant", "--name", name)
    assert cli("deactivate-tenant", "--name", name)[0] == 0
    assert db.execute("SELECT is_active FROM tenants WHERE name = %s", (name,)).fetchone() == (False,)
    assert cli("deactivate-tenant", "--name", name)[0] == 1
    code, _, err = cli("create-key", "--tenant", name, "--scopes", "prep", "--label", "x")
    assert code == 1 and "deactivated" in err


def test_deactivate_unknown_tenant_fails(cli):
    assert cli("deactivate-tenant", "--name", "ghost-" + uuid.uuid4().hex)[0] == 1


def test_set_quota_sets_a_tenants_storage_quota_and_default_gives_it_back(cli, name, db):
    cli("create-tenant", "--name", name)
    quota = "SELECT storage_quota_bytes FROM tenants WHERE name = %s"
    assert cli("set-quota", "--tenant", name, "--bytes", "10737418240") == (
        0,
        f"storage quota of {name!r}: 10737418240 bytes\n",
        "",
    )
    assert db.execute(quota, (name,)).fetchone() == (10737418240,)
    assert cli("set-quota", "--tenant", name, "--bytes", "0")[1] == f"storage quota of {name!r}: unlimited\n"
    assert cli("set-quota", "--tenant", name, "--bytes", "default")[0] == 0
    assert db.execute(quota, (name,)).fetchone() == (None,)


@pytest.mark.parametrize("size", ["-1", "lots", str(2**63)])
def test_set_quota_refuses_what_is_not_a_size(cli, name, size):
    cli("create-tenant", "--name", name)
    code, _, err = cli("set-quota", "--tenant", name, "--bytes", size)
    assert code == 1 and err.startswith("error: argument --bytes:") and err.count("\n") == 1


def test_set_budget_sets_a_tenants_monthly_llm_budget_and_default_gives_it_back(cli, name, db):
    cli("create-tenant", "--name", name)
    limit = "SELECT llm_budget_usd FROM tenants WHERE name = %s"
    assert cli("set-budget", "--tenant", name, "--usd", "25.50") == (0, f"LLM budget of {name!r}: $25.50 a month\n", "")
    assert db.execute(limit, (name,)).fetchone() == (Decimal("25.50"),)
    assert cli("set-budget", "--tenant", name, "--usd", "0")[1] == f"LLM budget of {name!r}: no limit\n"
    assert cli("set-budget", "--tenant", name, "--usd", "default")[0] == 0
    assert db.execute(limit, (name,)).fetchone() == (None,)


@pytest.mark.parametrize("usd", ["-1", "lots", "1.005", "1e20", "NaN"])
def test_set_budget_refuses_what_is_not_an_amount(cli, name, usd):
    cli("create-tenant", "--name", name)
    code, _, err = cli("set-budget", "--tenant", name, "--usd", usd)
    assert code == 1 and err.startswith("error: argument --usd:") and err.count("\n") == 1


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, "a\x00b"])
def test_tenant_names_must_be_printable_and_short(cli, bad):
    code, _, err = cli("create-tenant", "--name", bad)
    assert code == 1 and err.startswith("error: argument --name:")


def test_missing_settings_are_named(capsys):
    assert main(["list-tenants"], environ={}) == 2
    assert "POSTGRES_PASSWORD: missing" in capsys.readouterr().err


def test_cli_as_a_process_exits_non_zero_with_one_stderr_line(stack):
    result = subprocess.run(
        [sys.executable, "-m", "services.auth.cli", "list-keys", "--tenant", "nobody-x"],
        env=stack.service_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == "error: unknown tenant 'nobody-x'\n"
