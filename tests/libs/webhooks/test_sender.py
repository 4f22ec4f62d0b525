"""Deliveries as a receiver sees them: signed per Standard Webhooks (checked with its own
library), retried with backoff, in order per resource, never to a private address, and an
endpoint that fails for days disabled. The clock is moved in the table, never waited for."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from libs.webhooks import deliveries, endpoints
from tests.libs.webhooks.helpers import bodies, emit, resolving


def _delivery(db, endpoint_id: str) -> dict:
    row = db.execute(
        "SELECT status, attempts, next_attempt_at - now(), last_status_code, last_error, retry_until"
        " FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY seq LIMIT 1",
        (endpoint_id,),
    ).fetchone()
    keys = ("status", "attempts", "due_in", "last_status_code", "last_error", "retry_until")
    return dict(zip(keys, row, strict=True))


def _due_now(db, endpoint_id: str) -> None:
    db.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = %s AND status = 'pending'",
        (endpoint_id,),
    )


def test_a_delivery_verifies_with_the_standard_webhooks_library(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    emit(db, tenant_id, "material.processed", about="material:m1", material_id="m1", summary={"chunks": 3})

    assert make_sender().send_due() == 1

    [received] = inbox.received
    payload = Webhook(endpoint["secret"]).verify(received.body, received.headers)
    assert payload["type"] == "material.processed"
    assert payload["data"] == {"material_id": "m1", "summary": {"chunks": 3}}
    assert received.headers["webhook-id"] == payload["id"]
    assert received.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):  # another key does not verify it
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.headers)
    assert _delivery(db, endpoint["id"])["status"] == "delivered"


def test_nothing_is_recorded_for_an_event_no_endpoint_wants(db, tenant_id, subscribe):
    subscribe(types=("structure.succeeded",))
    assert emit(db, tenant_id, "material.processed") == 0
    assert db.execute("SELECT count(*) FROM webhook_events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0] == 0


def test_a_5xx_is_retried_after_a_backoff_with_the_same_webhook_id(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    emit(db, tenant_id)
    inbox.answers.extend([500])
    sender = make_sender()

    sender.send_due()
    failed = _delivery(db, endpoint["id"])
    assert (failed["status"], failed["attempts"], failed["last_status_code"]) == ("pending", 1, 500)
    assert failed["last_error"] == "the endpoint answered HTTP 500"
    # the first retry waits 10 s, ±20 % jitter
    assert timedelta(seconds=7) < failed["due_in"] < timedelta(seconds=12.5)
    assert sender.send_due() == 0  # not before it is due

    _due_now(db, endpoint["id"])
    assert sender.send_due() == 1
    assert _delivery(db, endpoint["id"])["status"] == "delivered"
    first, second = inbox.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_backoff_grows_to_hours_with_jitter():
    waits = [deliveries.retry_delay(attempts) for attempts in range(1, 12)]
    assert 8 <= waits[0] <= 12 and 24 <= waits[1] <= 36
    assert all(later > earlier for earlier, later in itertools.pairwise(waits[:7]))
    assert max(waits) <= deliveries.RETRY_CAP_SECONDS * 1.2
    assert len({round(deliveries.retry_delay(3), 3) for _ in range(20)}) > 1  # jittered


def test_a_timeout_and_a_refused_connection_are_retried(db, tenant_id, subscribe, make_sender, inbox):
    stalled = subscribe()
    inbox.answers.append(("stall", 3))
    emit(db, tenant_id)
    make_sender(timeout_seconds=1).send_due()
    assert _delivery(db, stalled["id"])["status"] == "pending"
    assert _delivery(db, stalled["id"])["last_error"] == "the endpoint did not answer within 1 s"

    closed = subscribe(url="https://localhost:9/hooks", types=("structure.failed",))
    emit(db, tenant_id, "structure.failed", about="course:c1")
    make_sender().send_due()
    assert _delivery(db, closed["id"])["last_error"] == "the endpoint could not be reached"
    assert _delivery(db, closed["id"])["status"] == "pending"


def test_a_4xx_or_a_redirect_is_not_retried(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    inbox.answers.extend([410, 301])
    emit(db, tenant_id, about="material:a")
    emit(db, tenant_id, about="material:b")
    make_sender().send_due()
    rows = db.execute(
        "SELECT status, last_error FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY seq", (endpoint["id"],)
    ).fetchall()
    assert rows == [
        ("failed", "the endpoint answered HTTP 410"),
        ("failed", "the endpoint redirected (HTTP 301); not followed"),
    ]


def test_a_delivery_fails_for_good_once_its_retry_window_passed(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    emit(db, tenant_id)
    db.execute(
        "UPDATE webhook_deliveries SET retry_until = now() - interval '1 second' WHERE endpoint_id = %s",
        (endpoint["id"],),
    )
    inbox.answers.append(503)
    make_sender().send_due()
    assert _delivery(db, endpoint["id"])["status"] == "failed"


def test_the_retry_window_is_at_least_a_day(db, tenant_id, subscribe):
    endpoint = subscribe()
    emit(db, tenant_id)
    window = _delivery(db, endpoint["id"])["retry_until"] - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < window <= timedelta(hours=24)


def test_a_resources_events_arrive_in_the_order_they_happened(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    emit(db, tenant_id, "upload.completed", about="material:m1", step=1)
    emit(db, tenant_id, "material.processed", about="material:m1", step=2)
    emit(db, tenant_id, "material.processed", about="material:m2", step=3)
    inbox.answers.append(500)  # the first event fails once
    sender = make_sender()

    sender.send_due()
    # m1's second event waits behind its first; m2's is not held by m1's
    assert [body["data"]["step"] for body in bodies(inbox)] == [1, 3]
    _due_now(db, endpoint["id"])
    sender.send_due()
    assert [body["data"]["step"] for body in bodies(inbox)] == [1, 3, 1, 2]


def test_a_name_resolving_to_a_private_address_at_delivery_is_refused(db, tenant_id, subscribe, make_sender, inbox):
    # registered while the name pointed outside; now its DNS answers a private address
    endpoint = subscribe(url="https://hooks.customer-one.com/in")
    emit(db, tenant_id)
    make_sender(allow_private=False, resolver=resolving({"hooks.customer-one.com": "10.0.0.7"})).send_due()

    delivery = _delivery(db, endpoint["id"])
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "the URL's host resolves to a private, local or metadata address"
    assert inbox.received == []


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/in", "https://169.254.169.254/latest", "https://localhost/in", "http://hooks.example.org/in"],
)
def test_a_private_or_plain_http_url_is_never_sent_to_without_the_local_switch(
    db, tenant_id, subscribe, make_sender, inbox, url
):
    endpoint = subscribe(url=url)
    emit(db, tenant_id)
    make_sender(allow_private=False, resolver=resolving({"hooks.example.org": "93.184.216.34"})).send_due()
    delivery = _delivery(db, endpoint["id"])
    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith("the URL is not allowed: ")
    assert inbox.received == []


def test_an_endpoint_failing_for_three_days_is_disabled(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    emit(db, tenant_id)
    inbox.answers.append(500)
    make_sender().send_due()
    assert endpoints.get(db, tenant_id, endpoint["id"])["failing_since"] is not None

    db.execute(  # three days of failures, by the clock
        "UPDATE webhook_endpoints SET failing_since = now() - interval '3 days 1 minute' WHERE id = %s",
        (endpoint["id"],),
    )
    inbox.answers.append(500)
    _due_now(db, endpoint["id"])
    make_sender().send_due()

    disabled = endpoints.get(db, tenant_id, endpoint["id"])
    assert disabled["active"] is False
    assert disabled["disabled_at"] is not None
    assert "3 days" in disabled["disabled_reason"]
    emit(db, tenant_id, about="material:later")  # a disabled endpoint gets no new deliveries
    assert (
        db.execute("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s", (endpoint["id"],)).fetchone()[0]
        == 1
    )


def test_a_success_ends_the_failing_period(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    emit(db, tenant_id)
    inbox.answers.append(500)
    sender = make_sender()
    sender.send_due()
    _due_now(db, endpoint["id"])
    sender.send_due()
    assert endpoints.get(db, tenant_id, endpoint["id"])["failing_since"] is None


def test_during_a_rotation_both_secrets_verify(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    rotated = endpoints.rotate_secret(db, tenant_id, endpoint["id"])
    emit(db, tenant_id)
    make_sender().send_due()

    [received] = inbox.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(received.body, received.headers)["type"] == "material.processed"


def test_after_the_grace_period_only_the_new_secret_signs(db, tenant_id, subscribe, make_sender, inbox):
    endpoint = subscribe()
    rotated = endpoints.rotate_secret(db, tenant_id, endpoint["id"])
    db.execute(
        "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = %s",
        (endpoint["id"],),
    )
    emit(db, tenant_id)
    make_sender().send_due()
    [received] = inbox.received
    Webhook(rotated["secret"]).verify(received.body, received.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(received.body, received.headers)


def test_one_slow_endpoint_holds_one_sender_not_every_delivery(db, tenant_id, subscribe, make_sender, inbox):
    slow = subscribe()
    emit(db, tenant_id, about="material:slow-1")
    emit(db, tenant_id, about="material:slow-2")
    # the slow endpoint's first delivery is in flight (claimed by another sender)
    with db.transaction():
        claimed = deliveries.claim(db, lease_seconds=60)
    assert claimed is not None and claimed.endpoint_id == str(slow["id"])
    fast = subscribe(url=inbox.url + "/fast", types=("structure.succeeded",))
    emit(db, tenant_id, "structure.succeeded", about="course:c")

    assert make_sender().send_due() == 1  # the other endpoint's, not the slow one's second
    assert [item.path for item in inbox.received] == ["/hooks/fast"]
    assert _delivery(db, fast["id"])["status"] == "delivered"
