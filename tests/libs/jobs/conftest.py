"""What the job tests share: the stack's worker paused, and a tenant whose jobs are cleaned up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def queue_to_ourselves(stack) -> Iterator[None]:
    """The stack's worker would take these tests' jobs: pause it for the module."""
    stack.services.stop_worker()
    yield
    stack.services.start_worker()


@pytest.fixture
def tenant_id(tenant, db) -> Iterator[str]:
    """The test's tenant; its jobs are deleted afterwards, so no later test's worker meets them."""
    yield tenant.id
    db.execute("DELETE FROM jobs WHERE tenant_id = %s", (tenant.id,))
