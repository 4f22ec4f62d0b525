"""Sections, through the gateway: the author's organisation of materials decides the modules of
a run (one per section, in the order of their materials), and moving a material to another
section moves its lesson with the next run. The local model makes a lesson per material."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.e2e.test_structure_flow import job_when, new_course, run, wait_done

SAMPLES = Path(__file__).resolve().parents[2] / "devstack" / "samples"
# (file, source type, section, position)
ORGANISED = [
    ("intro.md", "text", "Basics", 0),
    ("handout.pdf", "presentation", "Basics", 1),
    ("lecture.vtt", "video", "On video", 2),
]


@pytest.fixture
def owner(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.make_key().secret}


def upload(course_url: str, owner: dict, name: str, source_type: str, **organisation: object) -> dict:
    answer = requests.post(
        f"{course_url}/materials",
        headers=owner,
        data={"source_type": source_type, **{k: str(v) for k, v in organisation.items()}},
        files={"file": (name, (SAMPLES / name).read_bytes())},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def outline(course_url: str, owner: dict) -> list[tuple[str, list[str]]]:
    course = requests.get(course_url, headers=owner, timeout=10).json()
    return [(m["title"], [lesson["title"].split(": ", 1)[1] for lesson in m["lessons"]]) for m in course["modules"]]


def test_a_run_makes_one_module_per_section_and_follows_a_moved_material(stack, owner):
    course_url = new_course(stack, owner)
    uploaded = {name: upload(course_url, owner, name, kind, section=s, position=n) for name, kind, s, n in ORGANISED}
    assert (uploaded["intro.md"]["section"], uploaded["intro.md"]["position"]) == ("Basics", 0)
    wait_done(course_url, owner, [m["id"] for m in uploaded.values()])
    assert run(stack, course_url, owner)["status"] == "succeeded"
    assert outline(course_url, owner) == [("Basics", ["intro.md", "handout.pdf"]), ("On video", ["lecture.vtt"])]

    moved = requests.patch(
        f"{course_url}/materials/{uploaded['handout.pdf']['id']}",
        json={"section": "On video"},
        headers=owner,
        timeout=10,
    )
    assert moved.status_code == 200 and moved.json()["section"] == "On video"
    assert run(stack, course_url, owner)["status"] == "succeeded"  # the organisation changed: it runs
    assert outline(course_url, owner) == [("Basics", ["intro.md"]), ("On video", ["handout.pdf", "lecture.vtt"])]


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"section": "x" * 201}, "section"), ({"position": "first"}, "position"), ({"position": "-1"}, "position")],
)
def test_a_bad_section_or_position_is_422_naming_it(stack, owner, fields, field):
    course_url = new_course(stack, owner)
    answer = requests.post(
        f"{course_url}/materials",
        headers=owner,
        data={"source_type": "text", **fields},
        files={"file": ("intro.md", (SAMPLES / "intro.md").read_bytes())},
        timeout=30,
    )
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_refining_one_module_changes_it_alone_and_is_a_version_with_its_instructions(stack, owner, db, tenant):
    course_url = new_course(stack, owner)
    uploaded = [upload(course_url, owner, name, kind, section=s, position=n) for name, kind, s, n in ORGANISED]
    wait_done(course_url, owner, [m["id"] for m in uploaded])
    assert run(stack, course_url, owner)["status"] == "succeeded"
    before = requests.get(course_url, headers=owner, timeout=10).json()["modules"]
    basics, on_video = before

    instructions = "TITLE: Python basics, step by step"
    answer = requests.post(
        f"{course_url}/structure/refine",
        json={"instructions": instructions, "target": {"module_id": basics["id"]}},
        headers=owner,
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    job = job_when(stack, owner, answer.json()["job_id"], ("succeeded", "failed"))
    assert job["status"] == "succeeded", job
    after = requests.get(course_url, headers=owner, timeout=10).json()["modules"]
    assert (after[0]["id"], after[0]["title"]) == (basics["id"], "Python basics, step by step")
    assert [lesson["id"] for lesson in after[0]["lessons"]] == [lesson["id"] for lesson in basics["lessons"]]
    assert after[1] == on_video  # the other module, byte for byte
    newest = requests.get(f"{course_url}/structure/versions", headers=owner, timeout=10).json()["items"][-1]
    assert (newest["origin"], newest["instructions"]) == ("refine", instructions)
    calls = db.execute(
        "SELECT count(*) FROM llm_calls WHERE job_id = %s AND prompt_version = 'refine.v1'", (job["id"],)
    ).fetchone()[0]
    assert calls == 1  # one call, for the one module, from its section's materials


def test_refine_and_history_routes_are_404_for_another_tenant(stack, owner, other_tenant):
    course_url = new_course(stack, owner)
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    for method, path, body in (
        ("POST", "/structure/refine", {"instructions": "x"}),
        ("GET", "/structure/versions/1/diff", None),
        ("POST", "/structure/versions/1/restore", None),
    ):
        answer = requests.request(method, course_url + path, json=body, headers=intruder, timeout=10)
        assert answer.status_code == 404, (path, answer.text)
