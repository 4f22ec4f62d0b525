"""docker-compose.prod.yaml: valid against the compose specification (what `docker stack deploy`
and `docker compose` read) and to docker-compose 1.29, each shown rejecting a planted mistake;
and the facts of the stack the validators cannot know (the agent's containers, limits, Swarm
update order, images by name and tag)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from libs.platform.settings import SERVICES, Settings
from tests.deploy.tools import REPO, Result, Venv, run

COMPOSE = REPO / "docker-compose.prod.yaml"
CHECK = Path(__file__).with_name("compose_check.py")
APP_SERVICES = ("auth", "uploads", "courses", "agent-api", "agent-worker", "migrate")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder as on the server: .env.prod from the example, the mounted folders, and an
    empty .env (so nothing of this machine's leaks into the interpolation)."""
    shutil.copy(REPO / ".env.prod.example", tmp_path / ".env.prod")
    (tmp_path / ".env").write_text("")
    for folder in ("gateway", "deploy"):
        (tmp_path / folder).symlink_to(REPO / folder)
    return tmp_path


def compose_config(venv: Venv, file: Path, project: Path) -> Result:
    return run([venv.bin("docker-compose"), "--project-directory", project, "-f", file, "config", "-q"], cwd=project)


def compose_project(venv: Venv, file: Path, project: Path) -> Result:
    return run([venv.bin("python"), CHECK, file, project], cwd=project)


def spec_check(venv: Venv, file: Path) -> Result:
    return run([venv.bin("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", file])


def _services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def test_compose_file_matches_the_compose_specification(validators: Venv) -> None:
    result = spec_check(validators, COMPOSE)
    assert result.returncode == 0, result.output


def test_specification_rejects_an_unknown_update_order(validators: Venv, planted) -> None:
    bad = planted(COMPOSE, "order: start-first", "order: start-second")
    result = spec_check(validators, bad)
    assert result.returncode == 1, result.output
    assert "'start-second' is not one of ['start-first', 'stop-first']" in result.output


def test_docker_compose_1_29_accepts_the_file(compose_venv: Venv, project: Path) -> None:
    config = compose_config(compose_venv, COMPOSE, project)
    assert config.returncode == 0, config.output
    built = compose_project(compose_venv, COMPOSE, project)
    assert built.returncode == 0, built.output
    assert "migrate" not in built.output.split("up starts:")[1], "the tools profile must stay out of `up`"


def test_docker_compose_rejects_an_undefined_volume(compose_venv: Venv, project: Path, planted) -> None:
    bad = planted(COMPOSE, "- postgres-cs-data:/var/lib", "- postgres-data:/var/lib")
    result = compose_config(compose_venv, bad, project)
    assert result.returncode == 1, result.output
    assert 'Named volume "postgres-data:/var/lib/postgresql/data:rw" is used in service "postgres-cs"' in result.output


def test_docker_compose_rejects_an_undefined_service(compose_venv: Venv, project: Path, planted) -> None:
    bad = planted(COMPOSE, "      agent-api:\n        condition", "      agent:\n        condition")
    result = compose_config(compose_venv, bad, project)
    assert result.returncode == 1, result.output
    assert "Service 'gateway' depends on service 'agent' which is undefined." in result.output


def test_docker_compose_rejects_an_undefined_network(compose_venv: Venv, project: Path, planted) -> None:
    bad = planted(COMPOSE, "      shared-net:\n        # The name", "      shared-nett:\n        # The name")
    result = compose_project(compose_venv, bad, project)
    assert result.returncode == 1, result.output
    assert 'Service "gateway" uses an undefined network "shared-nett"' in result.output


def test_docker_compose_rejects_a_dependency_outside_the_active_profiles(
    compose_venv: Venv, project: Path, planted
) -> None:
    bad = planted(
        COMPOSE,
        "    depends_on:\n      auth:",
        "    depends_on:\n      migrate:\n        condition: service_completed_successfully\n      auth:",
    )
    result = compose_project(compose_venv, bad, project)
    assert result.returncode == 1, result.output
    assert 'Service "migrate" was pulled in as a dependency of service "gateway"' in result.output


def test_every_container_has_the_same_memory_limit_for_compose_and_swarm() -> None:
    for name, service in _services().items():
        assert service.get("mem_limit"), f"{name} has no mem_limit"
        assert service["deploy"]["resources"]["limits"]["memory"] == service["mem_limit"], name


def test_swarm_updates_and_rolls_back_state_stop_first_and_the_rest_start_first() -> None:
    for name, service in _services().items():
        order = "stop-first" if name in ("postgres-cs", "redis", "netdata") else "start-first"
        assert service["deploy"]["update_config"]["order"] == order, name
        assert service["deploy"]["rollback_config"]["order"] == order, name
        assert service["deploy"]["update_config"]["failure_action"] == "rollback", name
        assert "replicas" in service["deploy"], name


def test_built_images_are_referenced_by_name_and_tag() -> None:
    # a Swarm cannot build: every built image needs a name it can pull, with the deployed tag
    for name, service in _services().items():
        image = service["image"]
        defaults = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", image)  # as compose interpolates with no .env
        assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+", defaults), f"{name}: {image}"
        if "build" in service:
            assert image.endswith(":${IMAGE_TAG:-latest}"), name


def test_the_agent_runs_as_an_api_and_a_worker_with_ffmpeg() -> None:
    services = _services()
    assert "services.agent.wsgi:app" in services["agent-api"]["command"]
    assert services["agent-worker"]["command"] == ["python", "-m", "services.agent.worker"]
    assert services["agent-worker"]["build"]["target"] == "worker"  # the Dockerfile stage with ffmpeg
    assert services["gateway"]["environment"]["AGENT_UPSTREAM"] == "agent-api:8000"


def test_the_worker_has_time_to_finish_its_job_before_it_is_killed() -> None:
    # the worker finishes the job in hand on SIGTERM; an LLM request alone may take this long
    grace = _seconds(_services()["agent-worker"]["stop_grace_period"])
    assert grace >= 2 * Settings.llm_timeout_seconds


def test_services_reach_every_service_and_the_gateway_routes_to_each() -> None:
    services = _services()
    for name in APP_SERVICES:
        urls = services[name]["environment"]
        assert {f"{s.upper()}_URL" for s in SERVICES} <= set(urls), name
    gateway = services["gateway"]["environment"]
    assert {f"{s.upper()}_UPSTREAM" for s in SERVICES} <= set(gateway)
    template = (REPO / "gateway" / "templates" / "gateway.conf.template").read_text()
    assert set(re.findall(r"\$\{([A-Z_]+)\}", template)) <= set(gateway)


def test_the_gateway_caps_json_bodies_at_the_services_own_limit() -> None:
    # the same setting reaches both, with the same default when .env.prod does not set it
    gateway = _services()["gateway"]["environment"]
    assert gateway["MAX_JSON_BYTES"] == f"${{MAX_JSON_BYTES:-{Settings.max_json_bytes}}}"
    template = (REPO / "gateway" / "templates" / "gateway.conf.template").read_text()
    assert "client_max_body_size ${MAX_JSON_BYTES};" in template


def test_every_image_and_the_base_come_from_a_variable_with_the_public_default():
    # an operator without a registry builds stand-ins (make images-local) and names them
    services = yaml.safe_load((REPO / "docker-compose.prod.yaml").read_text())["services"]
    pulled = {name: spec["image"] for name, spec in services.items() if "build" not in spec and "image" in spec}
    assert pulled, "no pulled image found"
    for name, image in pulled.items():
        assert re.fullmatch(r"\$\{[A-Z]+_IMAGE:-[^}]+\}", image), f"{name}: {image}"
    built = [spec["build"] for spec in services.values() if "build" in spec]
    assert built and all(b["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}" for b in built)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim\nFROM ${PYTHON_IMAGE} AS runtime" in dockerfile


def test_the_build_ca_file_gives_the_ca_secret_to_every_service_that_is_built() -> None:
    override = yaml.safe_load((REPO / "deploy" / "compose.build-ca.yaml").read_text())
    built = {name for name, service in _services().items() if "build" in service}
    assert set(override["services"]) == built
    assert all(service["build"]["secrets"] == ["ca"] for service in override["services"].values())
    assert "HOST_CA_BUNDLE" in override["secrets"]["ca"]["file"]
