"""deploy/swarm_stack.py: the compose file in the format `docker stack deploy` reads (format 3,
no depends_on conditions, profiles or mem_limit), still valid to the compose specification."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.tools import REPO, Venv, run

SCRIPT = REPO / "deploy" / "swarm_stack.py"
# Compose file format 3.9 forbids these, which the one-host file uses
REFUSED_BY_SWARM = {"mem_limit", "profiles"}


def compose_config() -> str:
    """Roughly what `docker compose config --format json` prints with an empty .env: anchors
    merged, ${VAR:-default} interpolated, the tools profile left out."""
    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", (REPO / "docker-compose.prod.yaml").read_text())
    config = yaml.safe_load(text)
    config["name"] = "course-supporter"
    config["services"] = {name: s for name, s in config["services"].items() if not s.get("profiles")}
    config["services"]["gateway"]["profiles"] = []  # compose prints empty lists for some keys
    return json.dumps({k: v for k, v in config.items() if not k.startswith("x-")})


def convert(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT], input=stdin, capture_output=True, text=True, timeout=30)


def test_stack_file_keeps_every_service_in_the_swarms_format() -> None:
    done = convert(compose_config())
    assert done.returncode == 0, done.stderr
    stack = json.loads(done.stdout)
    assert stack["version"] == "3.9" and "name" not in stack
    assert set(stack["services"]) == set(json.loads(compose_config())["services"])
    for name, service in stack["services"].items():
        assert not REFUSED_BY_SWARM & set(service), name
        assert isinstance(service.get("depends_on", []), list), name
        assert service["deploy"]["resources"]["limits"]["memory"], name
    assert stack["services"]["gateway"]["depends_on"] == ["agent-api", "auth", "courses", "uploads"]


def test_stack_file_matches_the_compose_specification(validators: Venv, tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(convert(compose_config()).stdout)
    result = run([validators.bin("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", stack])
    assert result.returncode == 0, result.output


def test_input_that_is_not_json_is_refused_with_the_command_to_use() -> None:
    done = convert("services:\n  auth: {}\n")
    assert done.returncode == 2
    assert "pipe `docker compose config --format json`" in done.stderr


def test_replicas_apply_to_the_stateless_services_and_leave_state_at_one() -> None:
    done = subprocess.run(
        [sys.executable, SCRIPT, "--replicas", "2"], input=compose_config(), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    replicas = {name: s["deploy"]["replicas"] for name, s in json.loads(done.stdout)["services"].items()}
    assert replicas == {
        "postgres-cs": 1,
        "redis": 1,
        "netdata": 1,
        "auth": 2,
        "uploads": 2,
        "courses": 2,
        "agent-api": 2,
        "agent-worker": 2,
        "gateway": 2,
    }


def test_replicas_below_one_are_refused() -> None:
    done = subprocess.run([sys.executable, SCRIPT, "--replicas", "0"], input="{}", capture_output=True, text=True)
    assert done.returncode == 2
    assert "--replicas must be at least 1" in done.stderr


def test_keys_compose_prints_as_null_are_left_out() -> None:
    config = json.loads(compose_config())
    config["services"]["postgres-cs"] |= {"command": None, "entrypoint": None}
    done = convert(json.dumps(config))
    assert done.returncode == 0, done.stderr
    assert not {"command", "entrypoint"} & set(json.loads(done.stdout)["services"]["postgres-cs"])


def test_dns_round_robin_replaces_the_virtual_ip_of_every_service_when_asked() -> None:
    done = subprocess.run(
        [sys.executable, SCRIPT, "--endpoint-mode", "dnsrr"], input=compose_config(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    modes = {s["deploy"]["endpoint_mode"] for s in json.loads(done.stdout)["services"].values()}
    assert modes == {"dnsrr"}
