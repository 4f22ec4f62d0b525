"""What the processor tests share: writing a material to disk, expecting a plain-words
refusal, and settings for processors that reach no database or S3."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.platform.settings import Settings, load_settings
from services.agent.processors.errors import UnreadableMaterial


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """The file ``name`` under ``tmp_path`` holding ``content`` (text as UTF-8, newlines as given)."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


@contextlib.contextmanager
def unreadable(message: str) -> Iterator[None]:
    """The block raises UnreadableMaterial with exactly this message (plain words, no exception name)."""
    with pytest.raises(UnreadableMaterial) as caught:
        yield
    assert str(caught.value) == message


def offline_settings(**variables: str) -> Settings:
    """Settings whose database, S3 and Redis are never reached, plus ``variables``."""
    return load_settings(
        {
            "ENVIRONMENT": "test",
            "POSTGRES_PASSWORD": "unused",
            "POSTGRES_HOST": "unused",
            "S3_ENDPOINT": "http://unused.example.com",
            "S3_ACCESS_KEY": "unused",
            "S3_SECRET_KEY": "unused",
            "REDIS_URL": "redis://unused.example.com/0",
            **variables,
        }
    )
