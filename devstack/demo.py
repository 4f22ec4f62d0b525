"""``make demo``: see the product work against the running local stack. It makes a tenant, a key
and a course, uploads the sample materials of devstack/samples (one of each kind that works
offline), shows ingestion progress while it waits, and prints what was extracted; with an LLM
configured it then generates the course's structure and prints it as a tree with its cost, and
shows the structure as the author's document: a lesson renamed by hand, a rerun that keeps the
name and every id, and the diff between the two versions."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import psycopg
import requests

from devstack.__main__ import ENV_FILE
from devstack.stack import read_env_file
from libs.llm.providers import any_provider_configured
from libs.platform.settings import load_settings, passed_overrides
from services.auth import tenants

SAMPLES = Path(__file__).resolve().parent / "samples"
MATERIALS = {"intro.md": "text", "handout.pdf": "presentation", "slides.pptx": "presentation", "lecture.vtt": "video"}
WAIT_SECONDS = 120
STRUCTURE_SECONDS = 600
SHOWN_CHUNKS = 4


def main() -> int:
    """The demo against the stack of ``make up``."""
    if not ENV_FILE.exists():
        print("no local stack yet: run make up first", file=sys.stderr)
        return 1
    # LLM settings given to this command win, as they do for make up
    return run({**read_env_file(ENV_FILE), **passed_overrides(os.environ)})


def run(env: Mapping[str, str]) -> int:
    """Run the demo against the stack ``env`` describes; 1 when a material did not become a document."""
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    settings = load_settings(env)
    name = f"demo-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        tenants.create_tenant(conn, name)
        key = tenants.create_key(
            conn, tenant=name, scopes=("prep", "check"), label="demo", rate_prep=600, rate_check=600, expires_in_days=1
        )
    http = requests.Session()
    http.headers["X-API-Key"] = key.secret
    print(f"tenant {name}, key {key.secret} (expires in a day)")
    course = http.post(f"{gateway}/api/v1/courses", json={"title": "Python basics (demo)"}, timeout=10).json()
    course_url = f"{gateway}/api/v1/courses/{course['id']}"
    print(f"course {course['id']}: {course['title']}\n")

    uploaded = {}
    for filename, source_type in MATERIALS.items():
        with (SAMPLES / filename).open("rb") as file:
            form = {"data": {"source_type": source_type}, "files": {"file": (filename, file)}}
            answer = http.post(f"{course_url}/materials", **form, timeout=30)
        answer.raise_for_status()
        uploaded[filename] = answer.json()
        print(f"uploaded {filename:<12} → material {answer.json()['id']}, job {answer.json()['job_id']}")

    print("\ningesting…")
    settled = _wait(http, gateway, course_url, uploaded)
    print()
    for filename, material in settled.items():
        problem = f" ({material['error_message']})" if material["error_message"] else ""
        print(f"== {filename}: {material['status']}{problem}")
        if material["status"] != "done":
            continue
        page = http.get(
            f"{course_url}/materials/{material['id']}/document", params={"limit": SHOWN_CHUNKS}, timeout=10
        ).json()
        for chunk in page["items"]:
            where = ", ".join(f"{k}={v}" for k, v in chunk["metadata"].items() if v is not None)
            text = chunk["text"].replace("\n", " ")
            print(f"   [{chunk['kind']:<10}] {where:<40} {text[:70]}{'…' if len(text) > 70 else ''}")
        if page["total"] > SHOWN_CHUNKS:
            print(f"   … {page['total'] - SHOWN_CHUNKS} more chunks")
    if not all(material["status"] == "done" for material in settled.values()):
        return 1
    if not any_provider_configured(settings):
        print(
            "\nTo generate the course structure, start the stack with an LLM: set OPENAI_API_KEY, or"
            " OPENAI_BASE_URL and OPENAI_MODEL for a local OpenAI-compatible server, or ANTHROPIC_API_KEY,"
            " GEMINI_API_KEY or DEEPSEEK_API_KEY, in the environment of make up and make demo."
        )
    elif not _structure(http, gateway, course_url) or not _edit_and_rerun(http, gateway, course_url):
        return 1
    print(f"\nexplore: curl -H 'X-API-Key: {key.secret}' {course_url}")
    return 0


def _ids(course: dict) -> list[str]:
    lessons = [lesson for module in course["modules"] for lesson in module["lessons"]]
    children = [item for lesson in lessons for item in (*lesson["concepts"], *lesson["exercises"])]
    return [item["id"] for item in (*course["modules"], *lessons, *children)]


def _edit_and_rerun(http: requests.Session, gateway: str, course_url: str) -> bool:
    """Rename the first lesson by hand, ask for a run again (the edit is a change, so it runs),
    and show that the name and every id survived, and the diff the two runs' versions make."""
    before = http.get(course_url, timeout=10).json()
    lesson = before["modules"][0]["lessons"][0]
    renamed = f"{lesson['title']} (the author's title)"
    edited = http.patch(f"{course_url}/lessons/{lesson['id']}", json={"title": renamed}, timeout=10)
    edited.raise_for_status()
    print(f"\nthe author renames lesson {lesson['id']}:")
    print(f"    {lesson['title']!r} -> {renamed!r} (edited: {edited.json()['edited']})")
    again = http.post(f"{course_url}/structure", json={}, timeout=10)
    print(f"a new run is asked for: {again.status_code}")
    if again.status_code == 202:
        _follow(http, gateway, again.json()["job_id"])
    after = http.get(course_url, timeout=10).json()
    kept = after["modules"][0]["lessons"][0]
    same = _ids(after) == _ids(before)
    print(f"after the run: {kept['title']!r}; every id the same as before: {same}")
    versions = http.get(f"{course_url}/structure/versions", timeout=10).json()["items"]
    print("versions: " + ", ".join(f"{v['version']} ({v['origin']})" for v in versions))
    newest = versions[-1]["version"]
    diff = http.get(f"{course_url}/structure/versions/{newest}/diff", params={"against": 1}, timeout=10).json()
    print(f"diff of version {newest} against 1:")
    for change in diff["changed"]:
        for field, values in change["changes"].items():
            print(f"    {change['kind']} {change['id'] or ''} {field}: {values['before']!r} -> {values['after']!r}")
    return same and kept["title"] == renamed


def _follow(http: requests.Session, gateway: str, job_id: str) -> dict:
    job_url = f"{gateway}/api/v1/jobs/{job_id}"
    deadline = time.monotonic() + STRUCTURE_SECONDS
    while (job := http.get(job_url, timeout=10).json())["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            return job
        time.sleep(0.5)
    return job


def _structure(http: requests.Session, gateway: str, course_url: str) -> bool:
    """Run the ArchitectAgent, show its progress, and print the course as a tree."""
    answer = http.post(f"{course_url}/structure", json={}, timeout=10)
    if answer.status_code != 202:
        print(f"\nthe structure run was refused: {answer.json()['description']}")
        return False
    job_url = f"{gateway}/api/v1/jobs/{answer.json()['job_id']}"
    print("\nstructuring…")
    deadline = time.monotonic() + STRUCTURE_SECONDS
    while (job := http.get(job_url, timeout=10).json())["status"] not in ("succeeded", "failed"):
        print(f"   {job['status']} {job['progress']:>3}% {job['stage'] or ''}", flush=True)
        if time.monotonic() > deadline:
            print("   still running; follow it at " + job_url)
            return False
        time.sleep(1)
    if job["status"] == "failed":
        print(f"   failed: {job['error']}")
        return False
    result = job["result"]
    course = http.get(course_url, timeout=10).json()
    print(f"\n{course['title']}: {course['learning_goal'] or ''}")
    for module in course["modules"]:
        print(f"  {module['title']} ({module['difficulty']})")
        for lesson in module["lessons"]:
            span = []
            if lesson["video_start_timecode"]:
                span.append(f"video {lesson['video_start_timecode']} to {lesson['video_end_timecode']}")
            if lesson["slide_start"]:
                span.append(f"slides {lesson['slide_start']} to {lesson['slide_end']}")
            print(f"    {lesson['title']}" + (f"  [{', '.join(span)}]" if span else ""))
            for concept in lesson["concepts"]:
                refs = [*concept["timecodes"], *(f"slide {n}" for n in concept["slide_references"])]
                print(f"      · {concept['title']}" + (f"  ({', '.join(refs)})" if refs else ""))
    print(
        f"\nversion {result['version']} by {result['model']}: ${result['cost_usd']:.4f};"
        f" dropped references: {result['dropped']}; embeddings: {result['embeddings']}"
    )
    return True


def _wait(http: requests.Session, gateway: str, course_url: str, uploaded: dict[str, dict]) -> dict[str, dict]:
    """Poll each material and its job until every one is done or failed; print the progress."""
    deadline = time.monotonic() + WAIT_SECONDS
    current: dict[str, dict] = {}
    while True:
        line = []
        for filename, material in uploaded.items():
            current[filename] = http.get(f"{course_url}/materials/{material['id']}", timeout=10).json()
            job = http.get(f"{gateway}/api/v1/jobs/{material['job_id']}", timeout=10).json()
            line.append(f"{filename} {job['status']} {job['progress']:>3}%")
        print("   " + " | ".join(line), flush=True)
        if all(m["status"] in ("done", "error") for m in current.values()) or time.monotonic() > deadline:
            return current
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
