"""What the webhook tests share beside fixtures: a resolver that answers what a test says,
and an event emitted as the code that makes one happen would."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from libs.webhooks import events
from tests.fakes.webhook_receiver import Receiver


def resolving(mapping: dict[str, str]) -> Callable[..., list[tuple]]:
    """A resolver answering ``mapping``'s address for a name, as getaddrinfo does."""

    def resolve(host: str, port: int, *_args: object) -> list[tuple]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (mapping[host], port))]

    return resolve


def emit(db, tenant_id: str, event_type: str = "material.processed", about: str = "material:1", **data: object) -> int:
    with db.transaction():
        return events.emit(db, tenant_id, event_type, about=about, data=data)


def bodies(receiver: Receiver) -> list[dict]:
    return [json.loads(item.body) for item in receiver.received]
