"""Fixtures of the agent's tests: settings without any LLM provider; and for the check scope's
(submissions, progress, search) a check key and a course with the known structure of
check_helpers. A test module may define its own ``course``."""

from __future__ import annotations

import dataclasses

import pytest

from libs.platform.settings import Settings
from tests.services.agent.check_helpers import course_with_structure, exercise_ids


@pytest.fixture
def check_key(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.make_key(("check",)).secret}


@pytest.fixture
def course(db, tenant) -> str:
    return course_with_structure(db, tenant.id)


@pytest.fixture
def exercise(db, tenant, course) -> str:
    """The course's first exercise (Variables)."""
    return exercise_ids(db, tenant.id, course)[0]


@pytest.fixture
def no_llm_settings(settings) -> Settings:
    """The session's settings with every LLM provider's key and address removed."""
    return dataclasses.replace(
        settings,
        openai_api_key=None,
        openai_base_url=None,
        anthropic_api_key=None,
        gemini_api_key=None,
        deepseek_api_key=None,
    )
