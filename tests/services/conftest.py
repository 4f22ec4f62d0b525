"""Fixtures every service's resource tests share."""

import pytest


@pytest.fixture
def prep(tenant) -> dict[str, str]:
    """Headers of a prep+check key of a fresh tenant."""
    return {"X-API-Key": tenant.make_key().secret}
