"""The structure is the author's document, through the gateway: edits marked and kept by later
runs (and dropped on request), hand-added items kept, deleted ones not brought back, If-Match
honoured, and every new route tenant-isolated. Runs are the stack's local model's
(tests/fakes/course_model.py): one module, "Foundations", a lesson per material."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.e2e.test_structure_flow import ingested, new_course, run
from tests.fakes import course_model as fakes


@pytest.fixture
def owner(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.make_key().secret}


@pytest.fixture
def course_url(stack, owner) -> str:
    """A course the local model has structured once."""
    url = new_course(stack, owner)
    ingested(url, owner)
    assert run(stack, url, owner)["status"] == "succeeded"
    return url


def document(course_url: str, owner: dict) -> requests.Response:
    return requests.get(course_url, headers=owner, timeout=10)


def first_lesson(course_url: str, owner: dict) -> dict:
    return document(course_url, owner).json()["modules"][0]["lessons"][0]


def test_an_edited_title_survives_a_forced_run_and_goes_with_discard_edits(stack, owner, course_url):
    lesson = first_lesson(course_url, owner)
    assert lesson["edited"] is False
    edited = requests.patch(
        f"{course_url}/lessons/{lesson['id']}", json={"title": "Getting started"}, headers=owner, timeout=10
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["edited"]) == ("Getting started", True)
    assert edited.headers["ETag"] == document(course_url, owner).headers["ETag"]

    assert run(stack, course_url, owner, force=True)["status"] == "succeeded"
    kept = first_lesson(course_url, owner)
    assert (kept["id"], kept["title"], kept["edited"]) == (lesson["id"], "Getting started", True)

    assert run(stack, course_url, owner, discard_edits=True)["status"] == "succeeded"
    dropped = first_lesson(course_url, owner)
    assert (dropped["id"], dropped["title"], dropped["edited"]) == (lesson["id"], lesson["title"], False)


def test_a_hand_added_concept_stays_and_a_deleted_exercise_does_not_come_back(stack, owner, course_url):
    lesson = first_lesson(course_url, owner)
    added = requests.post(
        f"{course_url}/lessons/{lesson['id']}/concepts",
        json={"title": "Indentation", "definition": "Python reads blocks from their indentation.", "position": 0},
        headers=owner,
        timeout=10,
    )
    assert added.status_code == 201, added.text
    assert added.headers["Location"].endswith(f"/concepts/{added.json()['id']}")
    exercise = lesson["exercises"][0]["id"]
    assert requests.delete(f"{course_url}/exercises/{exercise}", headers=owner, timeout=10).status_code == 204

    assert run(stack, course_url, owner, force=True)["status"] == "succeeded"
    after = first_lesson(course_url, owner)
    assert [c["title"] for c in after["concepts"]][-1] == "Indentation"  # after the run's own
    assert added.json()["id"] in [c["id"] for c in after["concepts"]]
    assert after["exercises"] == []


def test_a_stale_if_match_is_412_and_changes_nothing(owner, course_url):
    read = document(course_url, owner)
    lesson = read.json()["modules"][0]["lessons"][0]
    url = f"{course_url}/lessons/{lesson['id']}"
    first = requests.patch(url, json={"title": "One"}, headers={**owner, "If-Match": read.headers["ETag"]}, timeout=10)
    assert first.status_code == 200, first.text
    second = requests.patch(url, json={"title": "Two"}, headers={**owner, "If-Match": read.headers["ETag"]}, timeout=10)
    assert second.status_code == 412 and second.json()["title"] == "Precondition failed"
    assert first_lesson(course_url, owner)["title"] == "One"
    fresh = requests.patch(url, json={"title": "Two"}, headers={**owner, "If-Match": first.headers["ETag"]}, timeout=10)
    assert fresh.status_code == 200


def test_the_clients_own_course_fields_survive_a_run(stack, owner):
    url = new_course(stack, owner, description="Our own words for the course.")
    ingested(url, owner)
    assert run(stack, url, owner)["status"] == "succeeded"
    course = document(url, owner).json()
    assert course["description"] == "Our own words for the course."  # the client's
    assert course["learning_goal"] == "Write small Python programs."  # the run's, where none was set


def test_another_tenants_course_and_items_are_404_on_every_edit_route(stack, owner, course_url, other_tenant):
    lesson = first_lesson(course_url, owner)
    module = document(course_url, owner).json()["modules"][0]["id"]
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    calls = [
        ("POST", f"{course_url}/modules", {"title": "x"}),
        ("PATCH", f"{course_url}/modules/{module}", {"title": "x"}),
        ("DELETE", f"{course_url}/modules/{module}", None),
        ("POST", f"{course_url}/modules/{module}/lessons", {"title": "x"}),
        ("PATCH", f"{course_url}/lessons/{lesson['id']}", {"title": "x"}),
        ("DELETE", f"{course_url}/lessons/{lesson['id']}", None),
        ("POST", f"{course_url}/lessons/{lesson['id']}/concepts", {"title": "x", "definition": "y"}),
        ("POST", f"{course_url}/lessons/{lesson['id']}/exercises", {"description": "x", "difficulty": 1}),
        ("PATCH", f"{course_url}/concepts/{lesson['concepts'][0]['id']}", {"title": "x"}),
        ("DELETE", f"{course_url}/concepts/{lesson['concepts'][0]['id']}", None),
        ("PATCH", f"{course_url}/exercises/{lesson['exercises'][0]['id']}", {"difficulty": 3}),
        ("DELETE", f"{course_url}/exercises/{lesson['exercises'][0]['id']}", None),
    ]
    for method, url, body in calls:
        answer = requests.request(method, url, json=body, headers=intruder, timeout=10)
        assert answer.status_code == 404, (method, url, answer.text)
    # and the owner's unknown ids are 404 as well
    unknown = requests.patch(f"{course_url}/concepts/{uuid.uuid4()}", json={"title": "x"}, headers=owner, timeout=10)
    assert unknown.status_code == 404
    assert first_lesson(course_url, owner) == lesson  # nothing was touched


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("lessons/{lesson}", {}, "body"),
        ("lessons/{lesson}", {"slide_start": 5, "slide_end": 2}, "slide_end"),
        ("lessons/{lesson}", {"video_start_timecode": "1:00"}, "video_start_timecode"),
        ("exercises/{exercise}", {"difficulty": 6}, "difficulty"),
        ("concepts/{concept}", {"title": "   "}, "title"),
    ],
)
def test_bad_edits_are_422_naming_the_field(owner, course_url, path, body, field):
    lesson = first_lesson(course_url, owner)
    ids = {"lesson": lesson["id"], "exercise": lesson["exercises"][0]["id"], "concept": lesson["concepts"][0]["id"]}
    answer = requests.patch(f"{course_url}/{path.format(**ids)}", json=body, headers=owner, timeout=10)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_a_course_patch_honours_if_match_and_answers_the_new_etag(owner, course_url):
    read = document(course_url, owner)
    first = requests.patch(
        course_url, json={"title": "Renamed"}, headers={**owner, "If-Match": read.headers["ETag"]}, timeout=10
    )
    assert first.status_code == 200 and first.headers["ETag"] == document(course_url, owner).headers["ETag"]
    stale = requests.patch(
        course_url, json={"title": "Lost"}, headers={**owner, "If-Match": read.headers["ETag"]}, timeout=10
    )
    assert stale.status_code == 412
    assert document(course_url, owner).json()["title"] == "Renamed"


def test_edits_are_kept_as_a_version_diffed_by_id_and_restored(stack, owner, course_url):
    lesson = first_lesson(course_url, owner)
    requests.patch(f"{course_url}/lessons/{lesson['id']}", json={"title": "Renamed"}, headers=owner, timeout=10)
    assert run(stack, course_url, owner, force=True)["result"]["version"] == 3
    versions = requests.get(f"{course_url}/structure/versions", headers=owner, timeout=10).json()["items"]
    # the run kept the author's edited state as a version before it wrote its own
    assert [v["origin"] for v in versions] == ["run", "edits", "run"]

    diff = requests.get(f"{course_url}/structure/versions/3/diff", params={"against": 1}, headers=owner, timeout=10)
    assert diff.status_code == 200, diff.text
    changed = {(c["kind"], c["id"]): c["changes"] for c in diff.json()["changed"]}
    assert changed[("lessons", lesson["id"])]["title"] == {"before": lesson["title"], "after": "Renamed"}
    assert (diff.json()["added"], diff.json()["removed"]) == ([], [])
    everything = requests.get(
        f"{course_url}/structure/versions/1/diff", params={"against": 0}, headers=owner, timeout=10
    ).json()
    assert ("lessons", lesson["id"]) in {(a["kind"], a["id"]) for a in everything["added"]}

    restored = requests.post(f"{course_url}/structure/versions/1/restore", headers=owner, timeout=10)
    assert restored.status_code == 200, restored.text
    assert (restored.json()["version"], restored.json()["origin"], restored.json()["restored_from"]) == (
        4,
        "restore",
        1,
    )
    back = first_lesson(course_url, owner)
    assert (back["id"], back["title"]) == (lesson["id"], lesson["title"])
    unknown = requests.get(f"{course_url}/structure/versions/9/diff", headers=owner, timeout=10)
    assert unknown.status_code == 404


def test_a_rewritten_or_hand_added_concept_is_embedded_again(stack, owner, course_url, db):
    lesson = first_lesson(course_url, owner)
    concept = lesson["concepts"][0]["id"]
    definition = "A name that refers to a value stored in memory."
    assert requests.patch(
        f"{course_url}/concepts/{concept}", json={"definition": definition}, headers=owner, timeout=10
    ).ok
    added = requests.post(
        f"{course_url}/lessons/{lesson['id']}/concepts",
        json={"title": "Loops", "definition": "A loop repeats a block."},
        headers=owner,
        timeout=10,
    ).json()

    def vector(concept_id: str) -> list[float] | None:
        row = db.execute("SELECT embedding::text FROM concepts WHERE id = %s", (concept_id,)).fetchone()
        return None if row[0] is None else [float(x) for x in row[0].strip("[]").split(",")]

    deadline = time.monotonic() + 30
    while (vector(concept) is None or vector(added["id"]) is None) and time.monotonic() < deadline:
        time.sleep(0.1)
    title = lesson["concepts"][0]["title"]
    # made of the new text, as a run makes a concept's embedding
    assert vector(concept) == pytest.approx(fakes.embed_text(f"{title}: {definition}"), abs=1e-6)
    assert vector(added["id"]) == pytest.approx(fakes.embed_text("Loops: A loop repeats a block."), abs=1e-6)
