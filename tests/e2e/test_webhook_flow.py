"""A course's life told to a receiver: registered through the gateway, each thing that
happens (a material read or refused, a structure made, an answer graded) arrives signed, and
verifies with the ``standardwebhooks`` library as the README shows."""

from __future__ import annotations

import json

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from libs.webhooks.sender import Sender
from tests.e2e.test_ingestion import settled, upload
from tests.e2e.test_structure_flow import job_when, new_course
from tests.fakes import course_model as fakes
from tests.fakes.webhook_receiver import Receiver, webhook_receiver
from tests.services.agent.check_helpers import exercise_ids


@pytest.fixture
def receiver(tmp_path) -> Receiver:
    with webhook_receiver(tmp_path) as server:
        yield server


def test_a_courses_life_reaches_a_receiver_signed_and_in_order(stack, db, tenant, settings, pool, receiver):
    db.execute("DELETE FROM webhook_endpoints")  # earlier tests' (the fuzzer's): the sender meets only ours
    owner = {"X-API-Key": tenant.make_key().secret}
    hooks = f"{stack.gateway_url}/api/v1/webhooks"
    registered = requests.post(
        hooks,
        json={
            "url": receiver.url,
            "event_types": ["material.processed", "material.failed", "structure.succeeded", "submission.graded"],
        },
        headers=owner,
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    webhook = registered.json()
    try:
        course_url = new_course(stack, owner)
        course_id = course_url.rsplit("/", 1)[1]
        good = upload(course_url, owner, "text", "intro.md", b"# Loops\n\nA for loop repeats a block for each item.\n")
        bad = upload(course_url, owner, "presentation", "slides.pdf", b"%PDF-1.7 not really a PDF")
        assert [settled(course_url, owner, m)["status"] for m in (good, bad)] == ["done", "error"]
        good, bad = good["id"], bad["id"]
        run = requests.post(f"{course_url}/structure", headers=owner, json={}, timeout=10).json()
        assert job_when(stack, owner, run["job_id"], ("succeeded", "failed"))["status"] == "succeeded"
        exercise = exercise_ids(db, tenant.id, course_id)[0]
        graded = requests.post(
            f"{course_url}/exercises/{exercise}/submissions",
            json={"student_id": "s-1", "answer": f"{fakes.GRADE_WRONG} no idea"},
            headers=owner,
            timeout=30,
        )
        assert graded.status_code == 201, graded.text

        sender = Sender(
            pool, settings.postgres_conninfo, timeout_seconds=5, allow_private=True, ca_bundle=str(receiver.ca_file)
        )
        assert sender.send_due() == 4

        verifier = Webhook(webhook["secret"])
        events = [verifier.verify(item.body, item.headers) for item in receiver.received]
        by_type = {event["type"]: event["data"] for event in events}
        assert by_type["material.processed"]["material_id"] == good
        assert by_type["material.processed"]["summary"]["chunks"] >= 1
        assert by_type["material.failed"]["material_id"] == bad
        assert by_type["material.failed"]["error"]  # the material's own error, in plain words
        assert by_type["structure.succeeded"]["course_id"] == course_id
        assert by_type["structure.succeeded"]["summary"]["version"] == 1
        assert by_type["submission.graded"]["submission_id"] == graded.json()["id"]
        assert by_type["submission.graded"]["summary"]["score"] == fakes.WRONG_SCORE
        assert all(event["data"].get("course_id") == course_id for event in events)

        log = requests.get(f"{hooks}/{webhook['id']}/deliveries", headers=owner, timeout=10).json()
        assert {(item["status"], item["attempts"], item["last_status_code"]) for item in log["items"]} == {
            ("delivered", 1, 200)
        }
        first = log["items"][-1]
        again = requests.post(f"{hooks}/{webhook['id']}/deliveries/{first['id']}/redeliver", headers=owner, timeout=10)
        assert again.status_code == 202
        assert sender.send_due() == 1
        assert receiver.received[-1].headers["webhook-id"] == first["event_id"]
        assert json.loads(receiver.received[-1].body)["id"] == first["event_id"]
    finally:
        requests.delete(f"{hooks}/{webhook['id']}", headers=owner, timeout=10)
