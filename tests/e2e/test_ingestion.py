"""Ingestion end to end through the gateway: uploaded materials become documents of typed
chunks in the agent's worker, and the jobs and documents are tenant-isolated."""

import time
from pathlib import Path

import pytest
import requests

SAMPLES = Path(__file__).resolve().parents[2] / "devstack" / "samples"
UPLOADS = {
    "intro.md": "text",
    "handout.pdf": "presentation",
    "slides.pptx": "presentation",
    "lecture.vtt": "video",
}


@pytest.fixture
def owner(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.make_key().secret}


@pytest.fixture
def course_url(stack, owner) -> str:
    course = requests.post(f"{stack.gateway_url}/api/v1/courses", json={"title": "Python"}, headers=owner, timeout=10)
    return f"{stack.gateway_url}/api/v1/courses/{course.json()['id']}"


def upload(course_url: str, headers: dict, source_type: str, filename: str, content: bytes) -> dict:
    answer = requests.post(
        f"{course_url}/materials",
        headers=headers,
        data={"source_type": source_type},
        files={"file": (filename, content)},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def settled(course_url: str, headers: dict, material: dict, timeout: float = 90) -> dict:
    """The material once its ingestion is done or has failed."""
    deadline = time.monotonic() + timeout
    while True:
        current = requests.get(f"{course_url}/materials/{material['id']}", headers=headers, timeout=10).json()
        if current["status"] in ("done", "error") or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def whole_document(course_url: str, headers: dict, material_id: str, limit: int = 100) -> list[dict]:
    chunks, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = requests.get(
            f"{course_url}/materials/{material_id}/document", headers=headers, params=params, timeout=10
        )
        assert page.status_code == 200, page.text
        chunks += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return chunks


def test_uploaded_materials_are_ingested_into_documents(stack, course_url, owner):
    uploaded = {
        name: upload(course_url, owner, source_type, name, (SAMPLES / name).read_bytes())
        for name, source_type in UPLOADS.items()
    }
    assert all(material["job_id"] for material in uploaded.values())
    done = {name: settled(course_url, owner, material) for name, material in uploaded.items()}
    assert {name: material["status"] for name, material in done.items()} == dict.fromkeys(UPLOADS, "done"), done

    markdown = whole_document(course_url, owner, uploaded["intro.md"]["id"])
    assert [(c["kind"], c["metadata"].get("level")) for c in markdown if c["kind"] == "heading"] == [
        ("heading", 1),
        ("heading", 2),
        ("heading", 2),
    ]
    assert [c["text"] for c in markdown if c["kind"] == "heading"] == ["Python basics", "Variables", "Loops"]

    pdf = whole_document(course_url, owner, uploaded["handout.pdf"]["id"])
    assert [(c["kind"], c["metadata"]["page"]) for c in pdf] == [("page", 1), ("page", 2), ("page", 3)]
    assert "Modules" in pdf[1]["text"]

    slides = whole_document(course_url, owner, uploaded["slides.pptx"]["id"])
    assert [(c["metadata"]["slide"], c["metadata"]["title"]) for c in slides] == [
        (1, "Why Python"),
        (2, "Lists"),
        (3, "Dictionaries"),
    ]

    cues = whole_document(course_url, owner, uploaded["lecture.vtt"]["id"])
    assert [c["kind"] for c in cues] == ["transcript"] * 3
    assert cues[2]["text"] == "Then we write our first for loop together."
    assert (cues[2]["metadata"]["start_seconds"], cues[2]["metadata"]["end_seconds"]) == (9.0, 15.25)

    job_url = f"{stack.gateway_url}/api/v1/jobs/{uploaded['lecture.vtt']['job_id']}"
    job = requests.get(job_url, headers=owner, timeout=10)
    assert job.status_code == 200
    assert (job.json()["status"], job.json()["progress"], job.json()["result"]["chunks"]) == ("succeeded", 100, 3)


def test_a_document_is_read_a_page_at_a_time(course_url, owner):
    material = upload(course_url, owner, "video", "lecture.vtt", (SAMPLES / "lecture.vtt").read_bytes())
    assert settled(course_url, owner, material)["status"] == "done"
    first = requests.get(
        f"{course_url}/materials/{material['id']}/document", headers=owner, params={"limit": 2}, timeout=10
    ).json()
    assert (len(first["items"]), first["total"], first["status"]) == (2, 3, "done")
    assert [c["position"] for c in whole_document(course_url, owner, material["id"], limit=2)] == [0, 1, 2]


def test_a_corrupt_pdf_ends_in_error_with_a_readable_message(stack, course_url, owner):
    material = upload(course_url, owner, "presentation", "broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8)
    failed = settled(course_url, owner, material)
    assert failed["status"] == "error"
    assert "PDF" in failed["error_message"] and "Error" not in failed["error_message"], failed["error_message"]
    job = requests.get(f"{stack.gateway_url}/api/v1/jobs/{material['job_id']}", headers=owner, timeout=10).json()
    assert (job["status"], job["attempts"], job["error"]) == ("failed", 1, failed["error_message"])


def test_jobs_and_documents_are_tenant_isolated(stack, course_url, owner, other_tenant):
    material = upload(course_url, owner, "text", "intro.md", (SAMPLES / "intro.md").read_bytes())
    settled(course_url, owner, material)
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    job = requests.get(f"{stack.gateway_url}/api/v1/jobs/{material['job_id']}", headers=intruder, timeout=10)
    assert job.status_code == 404
    document = requests.get(f"{course_url}/materials/{material['id']}/document", headers=intruder, timeout=10)
    assert document.status_code == 404
    assert document.headers["Content-Type"].startswith("application/json")


def test_agent_health_shows_how_old_the_oldest_queued_job_is(stack):
    health = requests.get(f"{stack.gateway_url}/health/agent", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["checks"]["queue"] == "ok"
    assert health.json()["metrics"]["oldest_queued_job_seconds"] >= 0


def test_a_failed_material_retried_is_ingested_again_from_scratch(stack, course_url, owner, db, tenant):
    material = upload(course_url, owner, "text", "intro.md", (SAMPLES / "intro.md").read_bytes())
    assert settled(course_url, owner, material)["status"] == "done"
    before = whole_document(course_url, owner, material["id"])
    # what an outage leaves: the material in error, and no document
    db.execute(
        "UPDATE source_materials SET status = 'error', error_message = 'the provider did not answer' WHERE id = %s",
        (material["id"],),
    )
    db.execute("DELETE FROM document_chunks WHERE material_id = %s AND tenant_id = %s", (material["id"], tenant.id))
    retried = requests.post(f"{course_url}/materials/{material['id']}/retry", headers=owner, timeout=10)
    assert retried.status_code == 202, retried.text
    assert (retried.json()["status"], retried.json()["error_message"]) == ("pending", None)
    assert retried.json()["job_id"] != material["job_id"]
    assert retried.headers["Location"] == f"/api/v1/jobs/{retried.json()['job_id']}"
    assert settled(course_url, owner, material)["status"] == "done"
    assert [chunk["text"] for chunk in whole_document(course_url, owner, material["id"])] == [
        chunk["text"] for chunk in before
    ]
    again = requests.post(f"{course_url}/materials/{material['id']}/retry", headers=owner, timeout=10)
    assert again.status_code == 409 and "this one is done" in again.json()["description"]
