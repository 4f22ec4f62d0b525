""".env.prod.example, the operator's template for .env.prod: every setting the services read is
in it, and it is a file Compose reads as it is."""

from __future__ import annotations

import re

from libs.platform.settings import _VARIABLES, SERVICES, load_settings
from tests.deploy.tools import REPO

EXAMPLE = REPO / ".env.prod.example"


def _values() -> dict[str, str]:
    """The uncommented assignments, read the way Compose's env_file reads them (one
    NAME=value a line; the example single-quotes its JSON lists, which Compose strips)."""
    values = {}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return values


def test_every_setting_is_in_the_example() -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(), re.MULTILINE))
    missing = [name for name, *_ in _VARIABLES if name not in listed]
    assert not missing, f"add these to .env.prod.example: {missing}"
    assert {f"{service.upper()}_URL" for service in SERVICES} <= listed


def test_the_example_as_it_stands_passes_the_services_validation() -> None:
    settings = load_settings(_values())
    assert settings.is_production
    assert settings.postgres_host == "postgres-cs" and settings.redis_url == "redis://redis:6379/0"
