"""Versioned prompt templates: ``prompts/<name>.v<N>.md``, a system part and a user part."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

PROMPTS = Path(__file__).with_name("prompts")
# The line between the system part and the user part of a template file.
_USER = re.compile(r"^=== user ===\s*$", re.MULTILINE)
_VERSION = re.compile(r"^[a-z_]+\.v[0-9]+$")


@dataclass(frozen=True)
class Prompt:
    """A prompt revision. ``version`` (e.g. ``structure.v1``) is what ``llm_calls.prompt_version``
    records; ``system`` and ``user`` are :class:`string.Template` texts (``$name``), filled with
    the agent's own values only: material text goes into the user part as data."""

    version: str
    system: Template
    user: Template

    def render(self, *, system: dict[str, object] | None = None, user: dict[str, object]) -> tuple[str, str]:
        """The system and user messages; a missing placeholder is a KeyError, not a silent gap."""
        return self.system.substitute(system or {}).strip(), self.user.substitute(user).strip()


@cache
def load(version: str) -> Prompt:
    """The template ``prompts/<version>.md`` (e.g. ``load("structure.v1")``). Versions are named
    in code, so a new revision is a new file and a deliberate change of one constant."""
    if not _VERSION.match(version):
        raise ValueError(f"a prompt version looks like structure.v1, not {version!r}")
    text = (PROMPTS / f"{version}.md").read_text(encoding="utf-8")
    parts = _USER.split(text)
    if len(parts) != 2:
        raise ValueError(f"{version}.md needs one '=== user ===' line between its system and user parts")
    return Prompt(version, Template(parts[0]), Template(parts[1]))
