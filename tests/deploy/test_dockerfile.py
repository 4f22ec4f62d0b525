"""The Dockerfile: hadolint passes and rejects a planted mistake; the runtime images are built
in stages, run as a non-root user, carry no build tools, and ffmpeg only where the worker needs it."""

from __future__ import annotations

import re

import pytest

from tests.deploy.tools import REPO, Venv, run

DOCKERFILE = REPO / "Dockerfile"


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            current = stages.setdefault(arguments.split(" AS ")[-1].strip(), [])
        current.append((keyword.upper(), arguments.strip()))
    return stages


def _last(stage: list[tuple[str, str]], keyword: str) -> str | None:
    return next((args for kw, args in reversed(stage) if kw == keyword), None)


def test_dockerfile_passes_hadolint(validators: Venv) -> None:
    result = run([validators.bin("hadolint"), DOCKERFILE])
    assert result.returncode == 0, result.output


def test_hadolint_rejects_apt_installing_recommended_packages(validators: Venv, planted) -> None:
    bad = planted(DOCKERFILE, "apt-get install -y --no-install-recommends ffmpeg", "apt-get install -y ffmpeg")
    result = run([validators.bin("hadolint"), "--no-color", bad])
    assert result.returncode == 1, result.output
    assert "DL3015" in result.output


def test_runtime_images_run_as_a_numeric_non_root_user() -> None:
    stages = _stages()
    for name in ("app", "worker"):
        user = _last(stages[name], "USER")
        assert user is not None and user.split(":")[0] not in ("0", "root"), f"{name} runs as {user}"
        assert user.split(":")[0].isdigit(), f"{name}: a user name may not resolve on the host"


def test_runtime_images_install_nothing_with_pip_and_copy_the_built_environment() -> None:
    stages = _stages()
    assert list(stages)[-1] == "app", "a plain `docker build` should give the services' image"
    for name in ("app", "worker"):
        runs = " ".join(args for kw, args in stages[name] if kw == "RUN")
        assert "pip" not in runs and "gcc" not in runs and "build-essential" not in runs
        assert ("COPY", "--from=build /opt/venv /opt/venv") in stages[name]


def test_only_the_worker_image_carries_ffmpeg() -> None:
    stages = _stages()
    assert "ffmpeg" in " ".join(args for kw, args in stages["worker"] if kw == "RUN")
    assert "ffmpeg" not in " ".join(args for kw, args in stages["app"] if kw == "RUN")


def test_the_services_image_checks_its_liveness() -> None:
    healthcheck = _last(_stages()["app"], "HEALTHCHECK")
    assert healthcheck is not None and "/health/live" in healthcheck


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".data", ".git", ".venv", "backups"} <= ignored


@pytest.mark.parametrize("stand_in", sorted((REPO / "deploy" / "images").glob("*.Dockerfile")), ids=lambda p: p.stem)
def test_the_local_stand_ins_pass_hadolint(validators: Venv, stand_in) -> None:
    # what make images-local builds when no registry can be reached (deploy/images_local.sh)
    result = run([validators.bin("hadolint"), stand_in])
    assert result.returncode == 0, result.output
