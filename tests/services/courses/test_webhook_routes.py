"""The webhook routes: registration with its one-time secret, URLs refused before anything is
sent, edits, rotation, deliveries and redelivery; another tenant's webhook does not exist."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from libs.webhooks import endpoints, events
from tests.libs.webhooks.helpers import resolving

HOOKS = "/api/v1/webhooks"
PUBLIC = {"hooks.customer-one.com": "93.184.216.34", "inside.customer-one.com": "10.1.2.3"}


@pytest.fixture
def public_client(make_client, settings):
    """The courses service as production runs it: no private addresses, and DNS answering
    :data:`PUBLIC`."""
    strict = dataclasses.replace(settings, webhook_allow_private=False)
    return make_client("courses", settings=strict, resolver=resolving(PUBLIC))


def _register(client, prep, **fields):
    body = {"url": "https://hooks.customer-one.com/in", "event_types": ["material.processed"], **fields}
    return client.simulate_post(HOOKS, json=body, headers=prep)


def test_registering_answers_201_with_the_secret_once(public_client, prep):
    created = _register(public_client, prep, description="LMS sync")
    assert created.status_code == 201
    hook = created.json
    assert created.headers["location"] == f"{HOOKS}/{hook['id']}"
    assert hook["secret"].startswith("whsec_")
    Webhook(hook["secret"])  # a secret the library takes
    assert (hook["active"], hook["event_types"], hook["description"]) == (True, ["material.processed"], "LMS sync")
    shown = public_client.simulate_get(f"{HOOKS}/{hook['id']}", headers=prep).json
    assert "secret" not in shown
    listed = public_client.simulate_get(HOOKS, headers=prep).json
    assert [item["id"] for item in listed["items"]] == [hook["id"]]
    assert "secret" not in listed["items"][0]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.customer-one.com/in", "must be an https URL"),
        ("https://127.0.0.1/in", "must point to a public address"),
        ("https://[::1]/in", "must point to a public address"),
        ("https://169.254.169.254/latest/meta-data", "must point to a public address"),
        ("https://2130706433/in", "must point to a public address"),
        ("https://localhost/in", "must name a public host"),
        ("https://metadata.google.internal/in", "must name a public host"),
        ("https://inside.customer-one.com/in", "resolves to a private, local or metadata address"),
        ("https://nowhere.customer-one.com/in", "its host name does not exist"),
        ("https://user:pw@hooks.customer-one.com/in", "must not contain credentials"),
        ("ftp://hooks.customer-one.com/in", "must be an https URL"),
    ],
)
def test_a_url_that_could_reach_inside_is_refused_at_registration(public_client, prep, url, why):
    refused = _register(public_client, prep, url=url)
    assert refused.status_code == 422, refused.text
    assert why in refused.json["description"]
    assert public_client.simulate_get(HOOKS, headers=prep).json["total"] == 0


def test_the_local_switch_allows_a_receiver_on_this_machine(client, prep):
    # the test stack runs with WEBHOOK_ALLOW_PRIVATE, as `make up` may
    assert _register(client, prep, url="http://127.0.0.1:8999/hooks").status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://hooks.customer-one.com/in"},
        {"url": "https://hooks.customer-one.com/in", "event_types": []},
        {"url": "https://hooks.customer-one.com/in", "event_types": ["material.exploded"]},
        {"url": "https://hooks.customer-one.com/in", "event_types": ["material.failed", "material.failed"]},
        {"url": "https://hooks.customer-one.com/in", "event_types": ["material.failed"], "active": "yes"},
        {"url": "https://hooks.customer-one.com/in", "event_types": ["material.failed"], "secret": "mine"},
        {"url": "x" * 3000, "event_types": ["material.failed"]},
    ],
    ids=["no-types", "empty-types", "unknown-type", "repeated-type", "active-not-boolean", "unknown-field", "long"],
)
def test_a_malformed_registration_is_422(public_client, prep, body):
    assert public_client.simulate_post(HOOKS, json=body, headers=prep).status_code == 422


def test_a_tenant_has_at_most_a_limit_of_webhooks(public_client, prep):
    for _ in range(endpoints.MAX_PER_TENANT):
        assert _register(public_client, prep).status_code == 201
    refused = _register(public_client, prep)
    assert refused.status_code == 409
    assert str(endpoints.MAX_PER_TENANT) in refused.json["description"]


def test_patch_changes_what_is_given_and_checks_a_new_url(public_client, prep):
    hook = _register(public_client, prep).json
    path = f"{HOOKS}/{hook['id']}"
    changed = public_client.simulate_patch(path, json={"event_types": list(events.EVENT_TYPES)}, headers=prep)
    assert changed.status_code == 200
    assert sorted(changed.json["event_types"]) == sorted(events.EVENT_TYPES)
    assert changed.json["url"] == hook["url"]
    inside = public_client.simulate_patch(path, json={"url": "https://inside.customer-one.com/x"}, headers=prep)
    assert inside.status_code == 422
    assert public_client.simulate_patch(path, json={}, headers=prep).status_code == 422


def test_setting_active_again_re_enables_a_disabled_webhook(public_client, prep, db, tenant):
    hook = _register(public_client, prep).json
    db.execute(
        "UPDATE webhook_endpoints SET active = false, disabled_at = now(), disabled_reason = 'failing',"
        " failing_since = now() - interval '4 days' WHERE id = %s",
        (hook["id"],),
    )
    enabled = public_client.simulate_patch(f"{HOOKS}/{hook['id']}", json={"active": True}, headers=prep).json
    assert (enabled["active"], enabled["disabled_at"], enabled["disabled_reason"], enabled["failing_since"]) == (
        True,
        None,
        None,
        None,
    )


def test_rotating_gives_a_new_secret_and_keeps_the_old_one_for_a_while(public_client, prep):
    hook = _register(public_client, prep).json
    rotated = public_client.simulate_post(f"{HOOKS}/{hook['id']}/rotate-secret", headers=prep)
    assert rotated.status_code == 200
    assert rotated.json["secret"].startswith("whsec_") and rotated.json["secret"] != hook["secret"]
    assert rotated.json["previous_secret_expires_at"]
    assert public_client.simulate_get(f"{HOOKS}/{hook['id']}", headers=prep).json["rotating"] is True


def test_deleting_removes_the_webhook_and_its_deliveries(public_client, prep, db, tenant):
    hook = _register(public_client, prep).json
    with db.transaction():
        events.emit(db, tenant.id, "material.processed", about="material:m", data={})
    assert public_client.simulate_delete(f"{HOOKS}/{hook['id']}", headers=prep).status_code == 204
    assert public_client.simulate_get(f"{HOOKS}/{hook['id']}", headers=prep).status_code == 404
    left = db.execute("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s", (hook["id"],)).fetchone()
    assert left[0] == 0


def test_deliveries_are_listed_and_one_can_be_sent_again(public_client, prep, db, tenant):
    hook = _register(public_client, prep).json
    with db.transaction():
        events.emit(db, tenant.id, "material.processed", about="material:m", data={"material_id": "m"})
    db.execute(
        "UPDATE webhook_deliveries SET status = 'failed', attempts = 9, last_status_code = 500,"
        " last_error = 'the endpoint answered HTTP 500' WHERE endpoint_id = %s",
        (hook["id"],),
    )
    page = public_client.simulate_get(f"{HOOKS}/{hook['id']}/deliveries", headers=prep).json
    [delivery] = page["items"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 9, 500)
    assert delivery["event"]["data"] == {"material_id": "m"}
    assert delivery["event"]["id"] == delivery["event_id"]

    again = public_client.simulate_post(f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/redeliver", headers=prep)
    assert again.status_code == 202
    assert again.json["status"] == "pending"
    assert again.json["event_id"] == delivery["event_id"]  # the same webhook-id


def test_a_delivery_in_flight_or_of_a_disabled_webhook_is_not_redelivered(public_client, prep, db, tenant):
    hook = _register(public_client, prep).json
    with db.transaction():
        events.emit(db, tenant.id, "material.processed", about="material:m", data={})
    [(delivery_id,)] = db.execute("SELECT id FROM webhook_deliveries WHERE endpoint_id = %s", (hook["id"],)).fetchall()
    path = f"{HOOKS}/{hook['id']}/deliveries/{delivery_id}/redeliver"
    db.execute("UPDATE webhook_deliveries SET status = 'sending' WHERE id = %s", (delivery_id,))
    assert public_client.simulate_post(path, headers=prep).status_code == 409
    db.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE id = %s", (delivery_id,))
    public_client.simulate_patch(f"{HOOKS}/{hook['id']}", json={"active": False}, headers=prep)
    refused = public_client.simulate_post(path, headers=prep)
    assert refused.status_code == 409
    assert "not active" in refused.json["description"]


def test_another_tenants_webhook_does_not_exist_on_any_route(public_client, prep, tenant, other_tenant, db):
    hook = _register(public_client, prep).json
    with db.transaction():
        events.emit(db, tenant.id, "material.processed", about="material:m", data={})
    [(delivery_id,)] = db.execute("SELECT id FROM webhook_deliveries WHERE endpoint_id = %s", (hook["id"],)).fetchall()
    other = {"X-API-Key": other_tenant.make_key().secret}
    path = f"{HOOKS}/{hook['id']}"
    answers = [
        public_client.simulate_get(path, headers=other),
        public_client.simulate_patch(path, json={"active": False}, headers=other),
        public_client.simulate_post(path + "/rotate-secret", headers=other),
        public_client.simulate_get(path + "/deliveries", headers=other),
        public_client.simulate_post(f"{path}/deliveries/{delivery_id}/redeliver", headers=other),
        public_client.simulate_delete(path, headers=other),
    ]
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert public_client.simulate_get(HOOKS, headers=other).json["total"] == 0
    assert public_client.simulate_get(path, headers=prep).json["active"] is True


def test_unknown_ids_are_404(public_client, prep):
    hook = _register(public_client, prep).json
    unknown = uuid.uuid4()
    assert public_client.simulate_get(f"{HOOKS}/{unknown}", headers=prep).status_code == 404
    redeliver = f"{HOOKS}/{hook['id']}/deliveries/{unknown}/redeliver"
    assert public_client.simulate_post(redeliver, headers=prep).status_code == 404
    assert public_client.simulate_get(f"{HOOKS}/not-a-uuid", headers=prep).status_code == 404


def test_a_check_key_cannot_manage_webhooks(public_client, tenant):
    check = {"X-API-Key": tenant.make_key(("check",)).secret}
    assert public_client.simulate_get(HOOKS, headers=check).status_code == 403
    assert _register(public_client, check).status_code == 403
