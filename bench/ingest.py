"""``make bench-ingest``: job start latency, no-op job throughput, real ingestions' time and worker
peak memory, and hostile inputs (zip bombs, huge HTML, a 50 MB cue, an unbroken 100 MB line):
what each takes of the worker and of the child process that reads it, and how it ends."""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from devstack.processes import ProcessTable
from devstack.services import WORKER
from devstack.stack import REPO, read_env_file
from libs.jobs import queue, runner
from libs.platform.db import create_pool
from libs.platform.settings import Settings, load_settings
from libs.platform.storage import Storage, create_storage
from libs.store import courses, material_objects
from services.auth import tenants
from services.uploads import intake

ENV_FILE = REPO / ".data" / "local.env"
MIB = 1024 * 1024
# The jobs table's kind CHECK allows only the two real kinds; the stack's worker handles only
# ingest_material, so benchmark no-op jobs are generate_structure jobs marked in their payload.
NOOP_KIND = "generate_structure"
MARKER = "bench_ingest"
LATENCY_JOBS = int(os.environ.get("BENCH_INGEST_LATENCY_JOBS", "200"))
LATENCY_WARMUP = 10
THROUGHPUT_JOBS = int(os.environ.get("BENCH_INGEST_THROUGHPUT_JOBS", "2000"))
FAIRNESS_BACKLOG = int(os.environ.get("BENCH_INGEST_FAIRNESS_BACKLOG", "1000"))
FAIRNESS_LONG_SECONDS = 5.0
INGEST_TIMEOUT = float(os.environ.get("BENCH_INGEST_TIMEOUT", "300"))
TARGET_P50_MS = 50.0
TARGET_PEAK_MIB = 256.0
WORDS = ("course", "lesson", "module", "concept", "exercise", "learner", "video", "slide", "page", "transcript")
WORDS += ("structure", "goal", "practice", "review", "example", "summary", "question", "answer", "theory", "method")
WORDS += ("result", "data", "model", "system", "process", "design", "analysis", "feedback", "outline", "topic")


# --- child processes ----------------------------------------------------------------------


class Child:
    """A subprocess of the benchmark in its own session (a terminal's Ctrl-C reaches only the
    benchmark, which then stops it), its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Until ``text`` shows in the child's output (it is ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.log.read_text(errors="replace")
            if text in output:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{output[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not say {text!r} within {timeout:.0f} s")

    def memory_mib(self, field: str) -> float:
        """VmRSS (now) or VmHWM (the peak since the process started) from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field} for {self.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGTERM: a worker finishes the job in hand (a no-op, or one of ours) and exits
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def _child_env(env: dict[str, str]) -> dict[str, str]:
    # what devstack gives the stack's own processes (devstack/services.py)
    return {**os.environ, **env, "PYTHONPATH": str(REPO)}


def noop_worker() -> int:
    """``python -m bench.ingest noop-worker``: a real :class:`runner.Worker` whose only handler
    (for the benchmark's kind) returns at once."""
    settings = load_settings(read_env_file(ENV_FILE))
    pool = create_pool(settings, name="bench-noop-worker", max_size=2)
    pool.open(wait=True, timeout=30)

    def handler(job: queue.Job, progress: Callable[[str, int], None]) -> dict:
        if not job.payload.get(MARKER):  # main() refuses to start while such jobs exist
            print(f"took a job that is not the benchmark's: {job.id}", flush=True)
        time.sleep(job.payload.get("sleep", 0))  # the fairness phase's one long job
        return {}

    worker = runner.Worker(
        pool, settings.postgres_conninfo, {NOOP_KIND: handler}, worker_id=f"bench-noop:{os.getpid()}"
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print("ready", flush=True)
    try:
        worker.run(stop)
    finally:
        pool.close()
    return 0


# --- the benchmark's rows -----------------------------------------------------------------


def fairness(conn: psycopg.Connection, tenant_a: str, tenant_b: str) -> dict[str, float]:
    """Tenant A queues one long job and a backlog of no-op jobs; then tenant B queues one. How
    long B's job waited to start, and how many of A's jobs started before it (first in, first
    out would be A's whole backlog)."""
    with conn.transaction():
        queue.enqueue(
            conn, tenant_a, NOOP_KIND, payload={MARKER: True, "phase": "fairness", "sleep": FAIRNESS_LONG_SECONDS}
        )
        for _ in range(FAIRNESS_BACKLOG):
            queue.enqueue(conn, tenant_a, NOOP_KIND, payload={MARKER: True, "phase": "fairness"})
    time.sleep(0.1)  # the workers are into A's backlog
    with conn.transaction():
        b_job = _enqueue_noop(conn, tenant_b, "fairness")
    _wait(lambda: _status(conn, b_job) == "succeeded", 60, "tenant B's job")
    waited_ms, committed_at, started_at = conn.execute(
        "SELECT extract(epoch FROM started_at - (payload->>'committing_at')::timestamptz) * 1000,"
        " (payload->>'committing_at')::timestamptz, started_at FROM jobs WHERE id = %s",
        (b_job,),
    ).fetchone()
    ahead, left = conn.execute(
        "SELECT count(*) FILTER (WHERE started_at > %s AND started_at < %s),"
        " count(*) FILTER (WHERE started_at IS NULL OR started_at > %s)"
        " FROM jobs WHERE tenant_id = %s AND payload->>'phase' = 'fairness'",
        (committed_at, started_at, started_at, tenant_a),
    ).fetchone()
    _wait(
        lambda: (
            conn.execute(
                "SELECT count(*) FROM jobs WHERE tenant_id = %s AND status <> 'succeeded'", (tenant_a,)
            ).fetchone()[0]
            == 0
        ),
        120,
        "tenant A's backlog",
        interval=0.1,
    )
    return {"waited_ms": float(waited_ms), "ahead": ahead, "left": left}


def _wait(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _status(conn: psycopg.Connection, job_id: str) -> str:
    return conn.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone()[0]


def _enqueue_noop(conn: psycopg.Connection, tenant_id: str, phase: str) -> str:
    job_id = queue.enqueue(conn, tenant_id, NOOP_KIND, payload={MARKER: True, "phase": phase})
    # The last statement before COMMIT stamps the job with the database's clock, the clock the
    # worker's started_at comes from; the COMMIT round trip is counted as latency (an overstatement
    # by a fraction of a millisecond, never an understatement).
    conn.execute(
        "UPDATE jobs SET payload = payload || jsonb_build_object('committing_at', clock_timestamp()) WHERE id = %s",
        (job_id,),
    )
    return job_id


def start_latency(conn: psycopg.Connection, tenant_id: str, count: int) -> list[float]:
    """Commit → started_at in ms for ``count`` jobs, each enqueued while the worker is idle."""
    ids = []
    for _ in range(LATENCY_WARMUP + count):
        with conn.transaction():
            job_id = _enqueue_noop(conn, tenant_id, "latency")
        ids.append(job_id)
        _wait(lambda j=job_id: _status(conn, j) == "succeeded", 10, f"latency job {job_id}")
        # back to waiting on LISTEN (succeed, an empty claim, the next-due query), then some
        # jitter so commits do not fall in step with the worker's 250 ms wait slices
        time.sleep(0.02 + random.uniform(0, 0.03))  # noqa: S311
    rows = conn.execute(
        "SELECT id::text, extract(epoch FROM started_at - (payload->>'committing_at')::timestamptz) * 1000"
        " FROM jobs WHERE id = ANY(%s::uuid[])",
        (ids[LATENCY_WARMUP:],),
    ).fetchall()
    return [float(ms) for _, ms in rows]


def throughput(conn: psycopg.Connection, tenant_id: str, count: int) -> tuple[float, dict[str, int]]:
    """Seconds from one commit of ``count`` jobs until the last succeeded (database clock), and
    how many each worker ran."""
    with conn.transaction():
        for _ in range(count):
            queue.enqueue(conn, tenant_id, NOOP_KIND, payload={MARKER: True, "phase": "throughput"})
        committing_at = conn.execute("SELECT clock_timestamp()").fetchone()[0]

    def done() -> bool:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')"
            " FROM jobs WHERE tenant_id = %s AND payload->>'phase' = 'throughput'",
            (tenant_id,),
        ).fetchone()
        if row[1]:
            raise RuntimeError(f"{row[1]} no-op jobs failed")
        return row[0] == count

    _wait(done, 120, f"{count} no-op jobs", interval=0.1)
    seconds = conn.execute(
        "SELECT extract(epoch FROM max(finished_at) - %s)::float8 FROM jobs"
        " WHERE tenant_id = %s AND payload->>'phase' = 'throughput'",
        (committing_at, tenant_id),
    ).fetchone()[0]
    split = dict(
        conn.execute(
            "SELECT locked_by, count(*) FROM jobs WHERE tenant_id = %s AND payload->>'phase' = 'throughput'"
            " GROUP BY locked_by",
            (tenant_id,),
        ).fetchall()
    )
    return seconds, split


def _sentences(rng: random.Random, count: int) -> str:
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "." for _ in range(count)
    )


def make_pdf(path: Path, pages: int = 300) -> None:
    from fpdf import FPDF

    rng = random.Random(1)  # noqa: S311 (filler text)
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {number}. {_sentences(rng, 10)}")
    pdf.output(str(path))


def make_pptx(path: Path, slides: int = 200) -> None:
    import pptx

    rng = random.Random(2)  # noqa: S311 (filler text)
    presentation = pptx.Presentation()
    layout = presentation.slide_layouts[1]  # title and content
    for number in range(1, slides + 1):
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = f"Slide {number}: {rng.choice(WORDS)} and {rng.choice(WORDS)}"
        body = slide.placeholders[1].text_frame
        body.text = _sentences(rng, 1)
        for _ in range(4):
            body.add_paragraph().text = _sentences(rng, 1)
        slide.notes_slide.notes_text_frame.text = _sentences(rng, 4)
    presentation.save(str(path))


def make_vtt(path: Path, hours: float = 3, every: float = 4) -> None:
    rng = random.Random(3)  # noqa: S311 (filler text)

    def stamp(seconds: float) -> str:
        whole = int(seconds)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int(seconds * 1000) % 1000:03d}"

    lines = ["WEBVTT", ""]
    for cue in range(int(hours * 3600 / every)):
        start = cue * every
        lines += [stamp(start) + " --> " + stamp(start + every - 0.2), _sentences(rng, 1), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


INPUTS: list[tuple[str, str, str, str, Callable[[Path], None]]] = [
    # label, file name, source_type, content type, generator
    ("PDF, 300 pages", "bench.pdf", "presentation", "application/pdf", make_pdf),
    (
        "PPTX, 200 slides",
        "bench.pptx",
        "presentation",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        make_pptx,
    ),
    ("VTT, 3 hours", "bench.vtt", "video", "text/vtt", make_vtt),
]


# --- hostile inputs (issue 20): what each takes of the worker and of its reader process -----


def zip_bomb(source: Callable[[Path], None], member: str, size: int) -> Callable[[Path], None]:
    """A zip-based file made by ``source`` with ``member`` replaced by ``size`` bytes of one
    repeated byte, deflated: about a thousand to one."""

    def generate(path: Path) -> None:
        import zipfile

        real = path.with_suffix(".real" + path.suffix)
        source(real)
        with zipfile.ZipFile(real) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            for item in original.infolist():
                if item.filename != member:
                    out.writestr(item, original.read(item.filename))
            info = zipfile.ZipInfo(member)
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w", force_zip64=True) as stream:
                block = b" " * MIB
                for _ in range(size // MIB):
                    stream.write(block)
        real.unlink()

    return generate


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph(_sentences(random.Random(4), 5))  # noqa: S311 (filler text)
    document.save(str(path))


def make_html(path: Path, size: int = 15 * MIB) -> None:
    rng = random.Random(5)  # noqa: S311 (filler text)
    with path.open("w", encoding="utf-8") as out:
        out.write("<html><body>")
        written = 0
        while written < size:
            paragraph = f"<p>{_sentences(rng, 2)}</p>\n"
            out.write(paragraph)
            written += len(paragraph)
        out.write("</body></html>")


def make_deep_html(path: Path) -> None:
    path.write_text("<html><body>" + "<div>" * 5000 + "<p>Deep inside.</p>" + "</div>" * 5000 + "</body></html>")


def make_one_cue(path: Path, size: int = 50 * MIB) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("WEBVTT\n\n00:00:00.000 --> 03:00:00.000\n")
        word = "lecture "
        for _ in range(size // MIB):
            out.write(word * (MIB // len(word)))
        out.write("\n")


def make_unbroken_txt(path: Path, size: int = 100 * MIB) -> None:
    with path.open("w", encoding="utf-8") as out:
        for _ in range(size // MIB):
            out.write("x" * MIB)


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
HOSTILE: list[tuple[str, str, str, str, Callable[[Path], None]]] = [
    ("docx → 1 GiB XML", "bomb.docx", "text", DOCX_TYPE, zip_bomb(make_docx, "word/document.xml", 1024 * MIB)),
    ("pptx + 2 GiB part", "bomb.pptx", "presentation", PPTX_TYPE, zip_bomb(make_pptx, "ppt/media/x.png", 2048 * MIB)),
    ("HTML, 50 MB", "big.html", "text", "text/html", lambda path: make_html(path, 50 * MIB)),
    ("HTML, 15 MB", "page.html", "text", "text/html", make_html),
    ("HTML, 5000 deep", "deep.html", "text", "text/html", make_deep_html),
    ("VTT, one 50 MB cue", "cue.vtt", "video", "text/vtt", make_one_cue),
    ("VTT, one 12 MB cue", "cue12.vtt", "video", "text/vtt", lambda path: make_one_cue(path, 12 * MIB)),
    ("txt, 100 MB 1 line", "line.txt", "text", "text/plain", make_unbroken_txt),
]


class ReaderPeak(threading.Thread):
    """The largest resident memory of any process below ``pid`` (the worker's fork server and
    the reader processes it forks), sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid, self.peak, self._done = pid, 0.0, threading.Event()

    def _descendants(self, pid: int) -> list[int]:
        try:
            children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []
        return children + [d for child in children for d in self._descendants(child)]

    def run(self) -> None:
        while not self._done.is_set():
            for pid in self._descendants(self._pid):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    status = Path(f"/proc/{pid}/status").read_text()
                    rss = next((line for line in status.splitlines() if line.startswith("VmRSS:")), None)
                    if rss:  # a process exiting has none
                        self.peak = max(self.peak, int(rss.split()[1]) / 1024)
            time.sleep(0.02)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def ingest_one(
    conn: psycopg.Connection,
    storage: Storage,
    env: dict[str, str],
    workdir: Path,
    tenant_id: str,
    course_id: str,
    spec: tuple[str, str, str, str, Callable[[Path], None]],
    keys: list[str],
    *,
    hostile: bool = False,
) -> dict:
    """One input through a fresh ``python -m services.agent.worker``, so its peak is this input's;
    a ``hostile`` one may end failed, and its error is the result."""
    label, filename, source_type, content_type, generate = spec
    path = workdir / filename
    generate(path)
    material_id = str(uuid.uuid4())
    key = material_objects.object_key(tenant_id, course_id, material_id, filename)
    keys.append(key)
    storage.client.upload_file(str(path), storage.bucket, key)
    worker = Child(f"worker-{filename}", [sys.executable, "-m", "services.agent.worker"], _child_env(env), workdir)
    try:
        worker.wait_for("worker started")
        time.sleep(0.5)  # its LISTEN connection is open and the queue drained: idle
        idle = worker.memory_mib("VmRSS")
        material = intake.create_with_job(
            conn,
            tenant_id,
            material_id=material_id,
            course_id=course_id,
            source_type=source_type,
            source_url=None,
            filename=filename,
            content_type=content_type,
            size=path.stat().st_size,
            key=key,
        )
        job_id = material["job_id"]
        readers = ReaderPeak(worker.pid)
        readers.start()
        _wait(lambda: _status(conn, job_id) in ("succeeded", "failed"), INGEST_TIMEOUT, label, interval=0.05)
        reader_peak = readers.stop()
        peak = worker.memory_mib("VmHWM")  # read before it stops: the process' high-water mark
        held = worker.memory_mib("VmRSS")
    finally:
        worker.stop()
    status, error, result, start_ms, seconds, taken_by = conn.execute(
        "SELECT status, error, result, extract(epoch FROM started_at - created_at)::float8 * 1000,"
        " extract(epoch FROM finished_at - created_at)::float8, locked_by FROM jobs WHERE id = %s",
        (job_id,),
    ).fetchone()
    if status != "succeeded" and not hostile:
        raise RuntimeError(f"{label}: the ingestion {status}: {error}")
    if f":{worker.pid}:" not in taken_by:
        raise RuntimeError(f"{label}: the job was run by {taken_by}, not the benchmark's worker")
    # another ingestion waiting in the queue would have been taken by our worker too and
    # inflated its peak: say so rather than report a wrong figure
    others = conn.execute(
        "SELECT count(*) FROM jobs WHERE locked_by LIKE %s AND tenant_id <> %s", (f"%:{worker.pid}:%", tenant_id)
    ).fetchone()[0]
    if others:
        raise RuntimeError(f"{label}: the benchmark's worker also ran {others} jobs of other tenants")
    return {
        "input": label,
        "size": path.stat().st_size,
        "chunks": result["chunks"] if result else 0,
        "outcome": "done" if status == "succeeded" else error,
        "start_ms": start_ms,
        "seconds": seconds,
        "idle": idle,
        "peak": peak,
        "held": held,
        "reader_peak": reader_peak,
    }


@contextlib.contextmanager
def stack_worker_paused(env: dict[str, str]) -> Iterator[bool]:
    """Stop the stack's own agent-worker (it would compete for our ingestion jobs) and start it
    again afterwards, whatever happens; yields whether it was running."""
    processes = ProcessTable(REPO / ".data" / "run", REPO / ".data" / "logs")
    was_running = processes.running(WORKER)
    if was_running:
        processes.stop(WORKER, timeout=10)
    try:
        yield was_running
    finally:
        if was_running:
            # as devstack/services.py starts it
            processes.start(WORKER, [sys.executable, "-m", "services.agent.worker"], env=_child_env(env), cwd=REPO)


def _percentile(values: list[float], fraction: float) -> float:
    # nearest rank: the smallest value with at least ``fraction`` of the values at or below it
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run(env: dict[str, str], settings: Settings, workdir: Path) -> int:
    storage = create_storage(settings)
    name = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    keys: list[str] = []
    children: list[Child] = []
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        foreign = conn.execute(
            "SELECT count(*) FROM jobs WHERE kind = %s AND status IN ('queued', 'running')", (NOOP_KIND,)
        ).fetchone()[0]
        if foreign:
            # the no-op workers would take them and mark them succeeded
            print(f"{foreign} {NOOP_KIND} jobs are queued or running: not benchmarking over them", file=sys.stderr)
            return 2
        tenant_id = tenants.create_tenant(conn, name)
        try:
            course_id = str(courses.create(conn, tenant_id, {"title": "bench-ingest"})["id"])

            def noop_child(label: str) -> Child:
                child = Child(label, [sys.executable, "-m", "bench.ingest", "noop-worker"], _child_env(env), workdir)
                children.append(child)
                child.wait_for("ready")
                return child

            # the stack's worker now also takes generate_structure jobs, the no-op workers' kind,
            # and it would compete for the ingestion jobs: paused for every phase
            with stack_worker_paused(env) as paused:
                # 1. start latency, one idle worker
                noop_child("noop-1")
                time.sleep(0.5)
                latencies = start_latency(conn, tenant_id, LATENCY_JOBS)
                p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
                print(f"job start latency (commit → started_at, one idle worker, {len(latencies)} jobs):")
                spread = f"max {max(latencies):.2f} ms   min {min(latencies):.2f} ms"
                print(f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   {spread}")

                # 2. throughput, two workers (both warmed up by a first batch)
                noop_child("noop-2")
                time.sleep(0.5)
                throughput(conn, tenant_id, 50)
                conn.execute("DELETE FROM jobs WHERE tenant_id = %s", (tenant_id,))
                seconds, split = throughput(conn, tenant_id, THROUGHPUT_JOBS)
                print(f"\nno-op throughput (two workers, {THROUGHPUT_JOBS} jobs committed at once):")
                print(
                    f"  {THROUGHPUT_JOBS / seconds:.0f} jobs/s ({seconds:.2f} s, commit → last finished_at); "
                    f"per worker: {', '.join(str(n) for n in sorted(split.values(), reverse=True))}"
                )
                conn.execute("DELETE FROM jobs WHERE tenant_id = %s", (tenant_id,))

                # 3. fairness: another tenant's job behind one tenant's backlog and long job
                other_id = tenants.create_tenant(conn, f"{name}-b")
                try:
                    fair = fairness(conn, tenant_id, other_id)
                finally:
                    conn.execute("DELETE FROM tenants WHERE id = %s", (other_id,))
                print(
                    f"\nfairness (two workers; tenant A queues one {FAIRNESS_LONG_SECONDS:.0f} s job and"
                    f" {FAIRNESS_BACKLOG} no-op jobs, then tenant B one):"
                )
                print(
                    f"  B's job started {fair['waited_ms']:.1f} ms after its commit, after {fair['ahead']} of A's jobs"
                    f" ({fair['left']} of A's were still waiting: first in, first out would have run them all first)"
                )
                for child in children:
                    child.stop()
                conn.execute("DELETE FROM jobs WHERE tenant_id = %s", (tenant_id,))

                # 4. real inputs, each through a fresh ingestion worker
                rows = []
                for spec in INPUTS:
                    rows.append(ingest_one(conn, storage, env, workdir, tenant_id, course_id, spec, keys))
                print(
                    "\ningestion (one fresh `python -m services.agent.worker` per input; the stack's own worker "
                    + ("stopped meanwhile" if paused else "was not running")
                    + "):"
                )
                print(
                    f"  {'input':<18} {'size':>9} {'chunks':>6} {'start ms':>8} {'seconds':>7} "
                    f"{'idle MiB':>8} {'peak MiB':>8}"
                )
                for row in rows:
                    print(
                        f"  {row['input']:<18} {row['size'] / MIB:>6.2f}MiB {row['chunks']:>6} {row['start_ms']:>8.1f} "
                        f"{row['seconds']:>7.2f} {row['idle']:>8.1f} {row['peak']:>8.1f}"
                    )

                # 5. hostile inputs: refused within bounds, each saying which
                hostile = [
                    ingest_one(conn, storage, env, workdir, tenant_id, course_id, spec, keys, hostile=True)
                    for spec in HOSTILE
                ]
                print("\nhostile inputs (worker: the ingestion process; reader: its child that read the file):")
                print(
                    f"  {'input':<20} {'size':>9} {'seconds':>7} {'worker idle':>11} {'peak':>6} {'held':>6} "
                    f"{'reader peak':>11}  outcome"
                )
                for row in hostile:
                    outcome = f"done, {row['chunks']} chunks" if row["outcome"] == "done" else row["outcome"]
                    print(
                        f"  {row['input']:<20} {row['size'] / MIB:>6.1f}MiB {row['seconds']:>7.2f} "
                        f"{row['idle']:>11.1f} {row['peak']:>6.1f} {row['held']:>6.1f} {row['reader_peak']:>11.1f}  "
                        + outcome
                    )

            # 6. against the targets
            worst = max(row["peak"] for row in rows + hostile)
            print("\ntargets:")
            print(
                f"  job start p50 {p50:.2f} ms vs < {TARGET_P50_MS:.0f} ms: {p50 / TARGET_P50_MS:.2f} of the target, "
                + ("met" if p50 < TARGET_P50_MS else "MISSED")
            )
            print(
                f"  worker peak {worst:.1f} MiB (largest of {len(rows) + len(hostile)} inputs)"
                f" vs < {TARGET_PEAK_MIB:.0f} MiB: "
                f"{worst / TARGET_PEAK_MIB:.2f} of the target, " + ("met" if worst < TARGET_PEAK_MIB else "MISSED")
            )
        finally:
            for child in children:
                child.stop()
            if keys:
                storage.delete_objects(keys)
            # jobs, materials, their chunks and the course all go with the tenant
            conn.execute("DELETE FROM tenants WHERE id = %s", (tenant_id,))
    return 0


def main() -> int:
    if sys.argv[1:] == ["noop-worker"]:
        return noop_worker()

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (make killed, a timeout) cleans up as Ctrl-C does
    signal.signal(signal.SIGTERM, interrupted)
    env = read_env_file(ENV_FILE)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
            return run(env, load_settings(env), Path(workdir))
    except KeyboardInterrupt:
        # the finally blocks have run: workers stopped, the stack's worker back, rows and objects gone
        print("interrupted; everything the benchmark created is removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
