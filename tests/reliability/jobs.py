"""The agent's worker under faults: SIGKILLed while it transcribes a material and while it
generates a structure. The stack's worker is swapped, for the scenario, for one talking to a
local OpenAI-compatible model that can hold a request until the worker has been killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack.services import REPO, WORKER
from libs.llm.providers import any_provider_configured
from tests.fakes import course_model as fakes
from tests.fakes.openai_server import FakeOpenAI, Request
from tests.reliability.harness import Context, Report, Tenant, call, upload

SAMPLE = REPO / "devstack" / "samples" / "intro.md"


class HeldModel:
    """The course model of the test stack (tests/fakes/course_model.py) plus a transcription
    route; :meth:`hold` makes one route wait, so a test knows the worker is inside that call."""

    def __init__(self) -> None:
        self.server = FakeOpenAI()
        self.server.route("POST", "/v1/chat/completions", self._held(fakes._chat))
        self.server.route("POST", "/v1/embeddings", fakes._embed)
        self.server.route("POST", "/v1/audio/transcriptions", self._held(_transcript))
        self._path: str | None = None
        self.arrived = threading.Event()
        self._released = threading.Event()

    @property
    def env(self) -> dict[str, str]:
        return {
            "OPENAI_API_KEY": "reliability-fake",  # transcription needs a key; the server ignores it
            "OPENAI_BASE_URL": self.server.base_url,
            "OPENAI_MODEL": fakes.MODEL,
            "OPENAI_EMBEDDING_MODEL": fakes.EMBEDDING_MODEL,
        }

    def hold(self, path: str) -> None:
        self._released.clear()
        self.arrived.clear()
        self._path = path

    def release(self) -> None:
        self._path = None
        self._released.set()

    def _held(self, route: Any) -> Any:
        def answer(request: Request) -> Any:
            if self._path and request.path.startswith(self._path):
                self.arrived.set()
                self._released.wait(timeout=120)
            return route(request)

        return answer


def _transcript(request: Request) -> tuple[int, dict]:
    texts = ["the first half of the tone", "the second half of the tone"]
    segments = [
        {"id": n, "seek": 0, "start": float(n), "end": float(n + 1), "text": f" {text}", "tokens": []}
        | {"temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}
        for n, text in enumerate(texts)
    ]
    return 200, {
        "task": "transcribe",
        "language": "english",
        "duration": 2.0,
        "text": " ".join(texts),
        "segments": segments,
    }


def start_worker(context: Context, model: HeldModel) -> int:
    return context.stack.processes.start(
        WORKER,
        [sys.executable, "-m", "services.agent.worker"],
        env={**context.stack.service_env(), **model.env},
        cwd=REPO,
    )


def kill_worker(context: Context) -> None:
    """SIGKILL: no goodbye, the job stays running under a lease nobody renews."""
    context.stack.processes.stop(WORKER, sig=signal.SIGKILL, timeout=5)


def has_model(context: Context) -> bool:
    """Whether the stack's settings name an LLM provider (the test stack's fake does). LLM
    settings given to ``make up`` only are not in ``.data/local.env``: the services are then
    restarted with the fake, and afterwards without those settings."""
    return any_provider_configured(context.settings)


@contextmanager
def model_services(context: Context) -> Iterator[None]:
    """Services and a worker that can call a model: the stack's own when it has one; else
    (``make up`` without LLM settings) every service and the worker restarted with
    :class:`HeldModel`'s settings, and restarted as they were afterwards."""
    if has_model(context):
        yield
        return
    model = HeldModel()
    saved = {name: os.environ.get(name) for name in model.env}
    with model.server:
        try:
            # Services take os.environ under the stack's own settings
            os.environ.update(model.env)
            context.stack.stop_services()
            context.stack.start_services()
            context.wait_healthy()
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            context.stack.stop_services()
            context.stack.start_services()
            context.wait_healthy()


@contextmanager
def llm_worker(context: Context) -> Iterator[HeldModel]:
    """The stack's worker replaced by one using :class:`HeldModel`; the usual worker is back
    afterwards, whatever happened."""
    model = HeldModel()
    with model.server:
        context.stack.services.stop_worker()
        try:
            start_worker(context, model)
            yield model
        finally:
            model.release()
            context.stack.services.stop_worker()
            context.stack.services.start_worker()


def wait_job(context: Context, key: str, job_id: str, *, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = call(context, "GET", f"/api/v1/jobs/{job_id}", key).body
        if job.get("status") in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def start_structure(context: Context, owner: Tenant, course_id: str) -> str:
    """POST /structure, on services that have a model (:func:`model_services`)."""
    answer = call(context, "POST", f"/api/v1/courses/{course_id}/structure", owner.key, json={})
    if answer.status != 202:
        raise RuntimeError(f"POST /structure: {answer.status} {answer.body}")
    return answer.body["job_id"]


def structured_course(context: Context, owner: Tenant) -> tuple[str, str, str]:
    """A course of ``owner`` with a done material and a succeeded structure run: its id, the
    material's and the run's job id (needs a worker with a model: :func:`llm_worker`)."""
    course_id = owner.course("Structured")
    added = upload(context, owner.key, course_id, SAMPLE.name, SAMPLE.read_bytes(), "text")
    if added.status != 201:
        raise RuntimeError(f"upload: {added.status} {added.body}")
    ingestion = wait_job(context, owner.key, added.body["job_id"], timeout=60)
    if ingestion.get("status") != "succeeded":
        raise RuntimeError(f"ingestion: {ingestion}")
    job = wait_job(context, owner.key, start_structure(context, owner, course_id), timeout=60)
    if job.get("status") != "succeeded":
        raise RuntimeError(f"structure run: {job}")
    return course_id, added.body["id"], job["id"]


def tone() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tone.wav"
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=2", str(path)]
        subprocess.run(command, check=True, timeout=60)
        return path.read_bytes()


def _lapse(context: Context, job_id: str) -> None:
    """Let the dead worker's lease run out: waited for on the local stack; expired at once
    in ``make test``, whose budget has no room for the 30 s (tests/libs/jobs/test_queue.py waits
    one out for real)."""
    if context.quick:
        with context.connect() as conn:
            conn.execute("UPDATE jobs SET lease_expires_at = now() WHERE id = %s AND status = 'running'", (job_id,))


def _killed_mid_call(context: Context, model: HeldModel, report: Report, what: str, job_id: str, key: str) -> dict:
    """Kill the worker while it is inside the held call, start another, let the call through;
    the job as it ends."""
    if not report.check(model.arrived.wait(timeout=60), f"{what}: the worker never called the model"):
        return {}
    kill_worker(context)
    killed_at = time.monotonic()
    with context.connect() as conn:
        state = conn.execute("SELECT status, attempts FROM jobs WHERE id = %s", (job_id,)).fetchone()
    report.check(state == ("running", 1), f"{what}: the job was {state} when its worker died")
    _lapse(context, job_id)
    model.release()
    start_worker(context, model)
    job = wait_job(context, key, job_id, timeout=90)
    report.count(f"{what}_recovered_s", time.monotonic() - killed_at)
    report.count(f"{what}_attempts", job.get("attempts"))
    report.check(job.get("status") == "succeeded", f"{what}: job ended {job.get('status')}: {job.get('error')}")
    return job


def worker_kill(context: Context, report: Report) -> None:
    """SIGKILL during ingestion and during structure generation: a restarted worker finishes
    each job; the document's chunks are stored once, the structure written once."""
    owner = context.tenant()
    course_id = owner.course("Killed worker")
    # the API takes the structure run too: on a stack without a model (make up as a new user
    # runs it) its services are restarted with one for the scenario, as isolation does
    with model_services(context), llm_worker(context) as model:
        # a text material done first, so the structure has two materials to cite
        text = upload(context, owner.key, course_id, SAMPLE.name, SAMPLE.read_bytes(), "text")
        wait_job(context, owner.key, text.body["job_id"], timeout=60)
        model.hold("/v1/audio/transcriptions")
        added = upload(context, owner.key, course_id, "tone.wav", tone(), "video")
        report.check(added.status == 201, f"upload: {added.status}")
        material_id = added.body["id"]
        _killed_mid_call(context, model, report, "ingestion", added.body["job_id"], owner.key)
        with context.connect() as conn:
            chunks, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT text) FROM document_chunks WHERE tenant_id = %s AND material_id = %s",
                (owner.id, material_id),
            ).fetchone()
        report.count("chunks", chunks)
        report.check(chunks == distinct == 2, f"the transcript has {chunks} chunks ({distinct} distinct), not 2")

        model.hold("/v1/chat/completions")
        job_id = start_structure(context, owner, course_id)
        _killed_mid_call(context, model, report, "structure", job_id, owner.key)
    with context.connect() as conn:
        versions, modules, lessons = conn.execute(
            "SELECT (SELECT count(*) FROM structure_versions WHERE tenant_id = %(t)s AND course_id = %(c)s),"
            " (SELECT count(*) FROM modules WHERE tenant_id = %(t)s AND course_id = %(c)s),"
            " (SELECT count(*) FROM lessons l JOIN modules m ON m.id = l.module_id"
            "   WHERE m.tenant_id = %(t)s AND m.course_id = %(c)s)",
            {"t": owner.id, "c": course_id},
        ).fetchone()
    report.count("versions", versions)
    report.count("modules", modules)
    report.count("lessons", lessons)
    # the fake model answers one module with a lesson per material
    report.check((versions, modules, lessons) == (1, 1, 2), f"structure written as {versions=} {modules=} {lessons=}")
    report.check(context.stack.processes.running(WORKER), "the stack's worker is not running again")
