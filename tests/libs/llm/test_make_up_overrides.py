"""`make up`: provider variables from its environment win over .data/local.env, unsaved."""

from __future__ import annotations

from pathlib import Path

import pytest

import devstack.__main__ as devstack_main
from devstack.stack import read_env_file, write_env_file


def test_llm_variables_from_the_environment_override_the_kept_ones_without_being_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env_file = tmp_path / "local.env"
    monkeypatch.setattr(devstack_main, "DATA", tmp_path)
    monkeypatch.setattr(devstack_main, "ENV_FILE", env_file)
    monkeypatch.delenv("GATEWAY_PORT", raising=False)
    devstack_main.local_stack()  # the first run writes the defaults
    write_env_file(env_file, {**read_env_file(env_file), "OPENAI_API_KEY": "sk-kept", "GEMINI_API_KEY": "g-kept"})
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-typed")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-typed")

    stack = devstack_main.local_stack()

    assert stack.env["OPENAI_API_KEY"] == "sk-typed"
    assert stack.env["ANTHROPIC_API_KEY"] == "sk-ant-typed"
    assert stack.env["GEMINI_API_KEY"] == "g-kept"
    kept = read_env_file(env_file)
    assert kept["OPENAI_API_KEY"] == "sk-kept"
    assert "ANTHROPIC_API_KEY" not in kept
