from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from libs.webhooks import endpoints, events
from libs.webhooks.sender import Sender
from tests.fakes.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture(scope="session")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    with webhook_receiver(tmp_path_factory.mktemp("webhooks")) as server:
        yield server


@pytest.fixture
def inbox(receiver: Receiver) -> Iterator[Receiver]:
    """The receiver, emptied for this test."""
    receiver.received.clear()
    receiver.answers.clear()
    yield receiver
    receiver.answers.clear()


@pytest.fixture
def tenant_id(tenant, db) -> Iterator[str]:
    """The test's tenant. Every webhook of earlier tests goes first (other tenants' too), so this
    test's sender meets only its own deliveries; its own go afterwards."""
    db.execute("DELETE FROM webhook_endpoints")
    yield tenant.id
    db.execute("DELETE FROM webhook_endpoints WHERE tenant_id = %s", (tenant.id,))


@pytest.fixture
def make_sender(pool, settings, receiver: Receiver) -> Callable[..., Sender]:
    def make(**overrides: object) -> Sender:
        arguments: dict = {
            "timeout_seconds": 2,
            "allow_private": True,
            "ca_bundle": str(receiver.ca_file),
            **overrides,
        }
        return Sender(pool, settings.postgres_conninfo, **arguments)

    return make


@pytest.fixture
def subscribe(db, tenant_id: str, receiver: Receiver) -> Callable[..., dict]:
    def make(url: str | None = None, types: tuple[str, ...] = events.EVENT_TYPES) -> dict:
        return endpoints.create(db, tenant_id, {"url": url or receiver.url, "event_types": list(types)})

    return make
