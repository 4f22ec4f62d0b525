"""The product's whole flow through the gateway: materials in, ingested, structured by the
ArchitectAgent against the stack's OpenAI-compatible model (tests/fakes/course_model.py),
embeddings stored, every call in the cost report, and each run kept as a version."""

import re
import time
from pathlib import Path

import pytest
import requests

from tests.fakes import course_model as fakes

SAMPLES = Path(__file__).resolve().parents[2] / "devstack" / "samples"
UPLOADS = {"intro.md": "text", "handout.pdf": "presentation", "lecture.vtt": "video"}


@pytest.fixture
def owner(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.make_key().secret}


def new_course(stack, owner, **fields) -> str:
    answer = requests.post(
        f"{stack.gateway_url}/api/v1/courses", json={"title": "Python", **fields}, headers=owner, timeout=10
    )
    return f"{stack.gateway_url}/api/v1/courses/{answer.json()['id']}"


def ingested(course_url: str, owner: dict) -> None:
    """Upload the samples and wait until every one is done."""
    ids = []
    for name, source_type in UPLOADS.items():
        answer = requests.post(
            f"{course_url}/materials",
            headers=owner,
            data={"source_type": source_type},
            files={"file": (name, (SAMPLES / name).read_bytes())},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    wait_done(course_url, owner, ids)


def wait_done(course_url: str, owner: dict, ids: list[str]) -> None:
    """Until every one of the materials ``ids`` is done (their ingestion finished)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        statuses = [
            requests.get(f"{course_url}/materials/{i}", headers=owner, timeout=10).json()["status"] for i in ids
        ]
        if all(status == "done" for status in statuses):
            return
        time.sleep(0.2)
    raise AssertionError(f"materials not done: {statuses}")


def job_when(stack, owner: dict, job_id: str, statuses: tuple[str, ...], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{stack.gateway_url}/api/v1/jobs/{job_id}", headers=owner, timeout=10).json()
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def run(stack, course_url: str, owner: dict, **body: object) -> dict:
    answer = requests.post(f"{course_url}/structure", headers=owner, json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    return job_when(stack, owner, answer.json()["job_id"], ("succeeded", "failed"))


def test_materials_become_a_structured_course_with_embeddings_costs_and_a_version(stack, owner, db, tenant):
    course_url = new_course(stack, owner)
    ingested(course_url, owner)
    job = run(stack, course_url, owner)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert (result["version"], result["model"], result["counts"]["lessons"]) == (1, fakes.MODEL, 3)
    # the fake cites one made-up timecode and slide per concept: dropped and counted
    assert result["dropped"]["timecodes"] == 3 and result["dropped"]["slides"] == 3
    assert result["embeddings"].startswith("stored for 3 concepts")

    course = requests.get(course_url, headers=owner, timeout=10).json()
    assert course["learning_goal"] == "Write small Python programs." and course["title"] == "Python"
    lessons = {lesson["title"]: lesson for lesson in course["modules"][0]["lessons"]}
    video = lessons["Lesson 3: lecture.vtt"]
    assert (video["video_start_timecode"], video["video_end_timecode"]) == ("00:00:00", "00:00:16")
    assert video["concepts"][0]["timecodes"] == ["00:00:00", "00:00:04"]
    handout = lessons["Lesson 2: handout.pdf"]
    assert (handout["slide_start"], handout["slide_end"]) == (1, 3)
    assert handout["concepts"][0]["slide_references"] == [1, 2]
    assert all(lesson["exercises"][0]["difficulty"] == 2 for lesson in lessons.values())
    stored = db.execute(
        "SELECT count(*) FILTER (WHERE embedding IS NOT NULL), count(*) FROM concepts WHERE course_id = %s",
        (course["id"],),
    ).fetchone()
    assert stored == (3, 3)

    report = requests.get(f"{stack.gateway_url}/api/v1/reports/cost", headers=owner, timeout=10).json()
    by_action = {entry["action"]: entry for entry in report["by_action"]}
    assert by_action["course_structuring"]["calls"] >= 1 and by_action["embedding"]["calls"] == 1
    assert report["totals"]["cost_usd"] > 0
    assert report["by_model"][0]["model"] in (fakes.MODEL, fakes.EMBEDDING_MODEL)

    versions = requests.get(f"{course_url}/structure/versions", headers=owner, timeout=10).json()
    assert [(v["version"], v["model"]) for v in versions["items"]] == [(1, fakes.MODEL)]
    snapshot = requests.get(f"{course_url}/structure/versions/1", headers=owner, timeout=10).json()
    assert [m["title"] for m in snapshot["document"]["modules"]] == ["Foundations"]


def test_a_second_run_adds_a_version_and_a_failed_run_keeps_the_structure(stack, owner, db):
    course_url = new_course(stack, owner)
    ingested(course_url, owner)
    assert run(stack, course_url, owner)["status"] == "succeeded"
    assert run(stack, course_url, owner, force=True)["result"]["version"] == 2
    before = requests.get(course_url, headers=owner, timeout=10).json()["modules"]

    # the course's own text now makes every model refuse: the run fails, after its retry
    requests.patch(course_url, headers=owner, json={"description": fakes.REFUSE}, timeout=10)
    job_id = requests.post(f"{course_url}/structure", headers=owner, json={}, timeout=10).json()["job_id"]
    deadline = time.monotonic() + 60
    while (job := job_when(stack, owner, job_id, ("failed",), timeout=1))["status"] != "failed":
        assert time.monotonic() < deadline, job
        if job["status"] == "queued" and job["attempts"] == 1:  # backing off: bring its retry forward
            db.execute("UPDATE jobs SET run_after = now() WHERE id = %s AND status = 'queued'", (job_id,))
    failed = job
    assert failed["status"] == "failed" and failed["attempts"] == 2, failed
    assert failed["error"] == "the language models could not produce the structure"  # no provider detail
    assert requests.get(course_url, headers=owner, timeout=10).json()["modules"] == before
    versions = requests.get(f"{course_url}/structure/versions", headers=owner, timeout=10).json()
    assert versions["total"] == 2


def _ids(document: dict) -> dict[str, list[str]]:
    lessons = [lesson for module in document["modules"] for lesson in module["lessons"]]
    return {
        "modules": [module["id"] for module in document["modules"]],
        "lessons": [lesson["id"] for lesson in lessons],
        "concepts": [concept["id"] for lesson in lessons for concept in lesson["concepts"]],
        "exercises": [exercise["id"] for lesson in lessons for exercise in lesson["exercises"]],
    }


def test_an_unchanged_rerun_keeps_every_id_and_a_students_progress(stack, owner, tenant):
    """The local model answers the same course twice: no id changes, so a platform's stored
    ids and a student's graded work stay valid."""
    course_url = new_course(stack, owner)
    ingested(course_url, owner)
    assert run(stack, course_url, owner)["status"] == "succeeded"
    first = _ids(requests.get(course_url, headers=owner, timeout=10).json())
    assert first["exercises"], first
    student = {"X-API-Key": tenant.make_key(("check",)).secret}
    course_id = course_url.rsplit("/", 1)[1]
    answer = {"student_id": "kept-42", "answer": "a for loop repeats its block for each item"}
    graded = requests.post(
        f"{course_url}/exercises/{first['exercises'][0]}/submissions", json=answer, headers=student, timeout=30
    )
    assert graded.status_code == 201, graded.text
    progress_url = f"{stack.gateway_url}/api/v1/students/kept-42/progress"
    before = requests.get(progress_url, params={"course_id": course_id}, headers=student, timeout=10).json()
    assert before["attempted"] == 1

    assert run(stack, course_url, owner, force=True)["status"] == "succeeded"
    assert _ids(requests.get(course_url, headers=owner, timeout=10).json()) == first
    after = requests.get(progress_url, params={"course_id": course_id}, headers=student, timeout=10).json()
    assert (after["attempted"], after["passed"], after["best_score"], after["retired"]) == (
        before["attempted"],
        before["passed"],
        before["best_score"],
        [],
    )


def test_a_rerun_with_nothing_changed_answers_its_version_without_a_model_call(stack, owner, course_model):
    course_url = new_course(stack, owner)
    ingested(course_url, owner)
    assert run(stack, course_url, owner)["status"] == "succeeded"
    calls = len(course_model.requests)
    again = requests.post(f"{course_url}/structure", headers=owner, json={}, timeout=10)
    assert again.status_code == 200, again.text
    assert (again.json()["unchanged"], again.json()["version"]) == (True, 1)
    assert len(course_model.requests) == calls  # no model was asked anything
    # what a run depends on changes: it runs again
    requests.patch(course_url, headers=owner, json={"learning_goal": "Write real programs"}, timeout=10)
    # (version 2 keeps the edited course as it was before the run: origin "edits")
    assert run(stack, course_url, owner)["result"]["version"] == 3
    assert requests.post(f"{course_url}/structure", headers=owner, json={}, timeout=10).status_code == 200
    # and force runs whatever
    assert run(stack, course_url, owner, force=True)["result"]["version"] == 4
    # another strategy is another question
    assert run(stack, course_url, owner, strategy="budget")["status"] == "succeeded"


def long_material(course_url: str, owner: dict, name: str) -> str:
    """A text material longer than the structuring model's window alone (~130k tokens): a run
    must condense it. Its id."""
    paragraph = f"{name} explains one more idea at length, with an example and a caveat or two. "
    text = "\n\n".join(f"## Part {n}\n\n" + paragraph * 12 for n in range(420))
    answer = requests.post(
        f"{course_url}/materials",
        headers=owner,
        data={"source_type": "text"},
        files={"file": (name, text.encode())},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def condensed_names(requests_seen: list) -> set[str]:
    """The materials the model was asked to condense in ``requests_seen``."""
    names = set()
    for request in requests_seen:
        schema = (request.json or {}).get("response_format", {}).get("json_schema", {}).get("name", "")
        if "summary" in schema:
            prompt = "\n".join(str(m.get("content", "")) for m in request.json["messages"])
            names.update(re.findall(r'<material [^>]*name="([^"]*)"', prompt))
    return names


def test_adding_a_material_condenses_that_material_alone(stack, owner, course_model):
    course_url = new_course(stack, owner)
    wait_done(course_url, owner, [long_material(course_url, owner, "first.md")])
    seen = len(course_model.requests)
    assert run(stack, course_url, owner)["status"] == "succeeded"
    assert condensed_names(course_model.requests[seen:]) == {"first.md"}
    wait_done(course_url, owner, [long_material(course_url, owner, "second.md")])
    seen = len(course_model.requests)
    job = run(stack, course_url, owner)
    assert job["status"] == "succeeded", job
    assert condensed_names(course_model.requests[seen:]) == {"second.md"}  # first.md's summary was kept
