"""``make bench``: start-up, idle memory and request throughput of the local stack, in one run.

1. Restarts the local stack (``make down``, then ``make up`` timed; devstack records each
   step and each service's time from its process start to its first answer), lets it settle,
   and reads the idle PSS of every Python process, per service.
2. Seeds one course of 5 modules x 4 lessons x (3 concepts + 2 exercises) for a throwaway
   tenant, then loads four gateway paths with wrk, at each connection count in turn:

  (a) GET /health/gateway        nginx answers alone: the machine's ceiling
  (b) GET /health/courses/live   a dependency-free endpoint of the service: the trivial endpoint
  (c) GET /api/v1/courses/{id}   authenticated, rate-limited (limits far above the load), the cached document
  (d) GET /health                the public deep check: every dependency and service (probes cached ~1 s)

It prints requests/s, p50, p99, socket errors and error responses for each, the read as a share
of the trivial endpoint, and the acceptance figures of the performance issue. The course is
deleted and the tenant deactivated afterwards. Exits 1 when any request failed (the figures
would not mean what they say); slow figures are reported, not failed.

Settings: BENCH_SECONDS (15) per run, BENCH_CONNECTIONS ("16,64"), BENCH_WARMUP (2) seconds
per target before measuring, discarded; BENCH_RESTART=0 measures the running stack as it is
(no start-up figure; the memory figure is then not the idle one).
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis

from bench import wrk
from bench.memory import pss_by_process_group
from devstack.seed import seed_structure
from devstack.stack import REPO, read_env_file
from libs.platform.gunicorn_config import THREADS_BY_SERVICE
from libs.platform.redis_client import create_redis
from libs.platform.settings import SERVICES, load_settings
from services.auth import tenants

ENV_FILE = REPO / ".data" / "local.env"
RUN_DIR = REPO / ".data" / "run"
SHAPE = {"modules": 5, "lessons": 4, "concepts": 3, "exercises": 2}
RATE_LIMIT = 10_000_000  # per minute, both scopes: the bucket never empties under this load
TARGETS = (
    ("a", "nginx static", "/health/gateway"),
    ("b", "trivial endpoint", "/health/courses/live"),
    ("c", "course document", "/api/v1/courses/{id}"),
    ("d", "deep /health", "/health"),
)
# The performance issue's acceptance figures.
MIN_C_OVER_B = 0.60
MAX_C_P99_MS = {16: 25.0, 64: 100.0}
MIN_HEALTH_RPS = 2000.0
MAX_IDLE_PSS_MIB = 440.0
MAX_UP_SECONDS = 10.0
SETTLE_SECONDS = 3.0


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# ---- HTTP ---------------------------------------------------------------------------------


def request(method: str, url: str, *, key: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    if key:
        headers["X-API-Key"] = key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# ---- the fixture: tenant, key, seeded course ----------------------------------------------


@dataclass
class Fixture:
    gateway: str
    tenant: str
    key: str
    course_id: str | None = None
    document_bytes: int = 0

    @property
    def course_path(self) -> str:
        return f"/api/v1/courses/{self.course_id}"


def tenant_with_course(conn: psycopg.Connection, gateway: str, *, label: str, course: dict) -> tuple[Fixture, str]:
    """A throwaway tenant (``bench-…``) with a key whose limits are never reached, and one
    course made through the API; the fixture and the tenant's id."""
    name = f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    tenant_id = str(tenants.create_tenant(conn, name))
    # Straight to the repository: the CLI caps limits at 1 000 000/min, too low for a ceiling run.
    key = tenants.create_key(
        conn,
        tenant=name,
        scopes=("prep", "check"),
        label=label,
        rate_prep=RATE_LIMIT,
        rate_check=RATE_LIMIT,
        expires_in_days=1,
    )
    fixture = Fixture(gateway, name, key.secret)
    status, body = request("POST", gateway + "/api/v1/courses", key=key.secret, body=course)
    if status != 201:
        raise RuntimeError(f"POST /api/v1/courses answered {status}: {body[:300]!r}")
    fixture.course_id = json.loads(body)["id"]
    return fixture, tenant_id


def create_fixture(conn: psycopg.Connection, gateway: str) -> Fixture:
    course = {"title": "Benchmark course", "description": "Seeded by make bench.", "learning_goal": "Measure."}
    fixture, tenant_id = tenant_with_course(conn, gateway, label="make bench", course=course)
    seed_structure(conn, tenant_id, fixture.course_id, **SHAPE)
    fixture.document_bytes = check_document(fixture)
    return fixture


def check_document(fixture: Fixture) -> int:
    """The document must be complete, else the benchmark would measure something else."""
    status, body = request("GET", fixture.gateway + fixture.course_path, key=fixture.key)
    if status != 200:
        raise RuntimeError(f"GET {fixture.course_path} answered {status}: {body[:300]!r}")
    document = json.loads(body)
    lessons = [lesson for module in document["modules"] for lesson in module["lessons"]]
    found = (
        len(document["modules"]),
        len(lessons),
        sum(len(lesson["concepts"]) for lesson in lessons),
        sum(len(lesson["exercises"]) for lesson in lessons),
    )
    m, n = SHAPE["modules"], SHAPE["lessons"]
    expected = (m, m * n, m * n * SHAPE["concepts"], m * n * SHAPE["exercises"])
    if found != expected:
        raise RuntimeError(f"seeded document has (modules, lessons, concepts, exercises) {found}, expected {expected}")
    return len(body)


def remove_fixture(conn: psycopg.Connection, redis_client: redis.Redis, fixture: Fixture) -> None:
    """Delete the course through the API and deactivate the tenant; only its row stays."""
    problems = []
    if fixture.course_id:
        status, body = request("DELETE", fixture.gateway + fixture.course_path, key=fixture.key)
        if status != 204:
            problems.append(f"DELETE {fixture.course_path} answered {status}: {body[:200]!r}")
    try:
        tenants.deactivate_tenant(conn, redis_client, fixture.tenant)
    except Exception as exc:
        problems.append(f"could not deactivate tenant {fixture.tenant!r}: {exc}")
    for problem in problems:
        print(f"cleanup: {problem}", file=sys.stderr)


# ---- the machine --------------------------------------------------------------------------


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "unknown"


def _gunicorn_workers(service: str) -> int | None:
    """Worker processes of the service's gunicorn master, counted in /proc."""
    pid_file = RUN_DIR / f"{service}.pid"
    if not pid_file.exists():
        return None
    master = int(pid_file.read_text().strip() or 0)
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            count += 1
    return count


def machine() -> list[str]:
    nginx = _version(["nginx", "-v"]).removeprefix("nginx version: ")
    wrk_version = _version(["wrk", "--version"]).split(" Copyright")[0]
    sizing = ", ".join(f"{name} {_gunicorn_workers(name)} x {THREADS_BY_SERVICE.get(name, 2)}" for name in SERVICES)
    return [
        f"cpu: {os.cpu_count()} x {_cpu_model()}; RAM {_ram_gib():.1f} GiB",
        f"kernel: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"{nginx}; {wrk_version}",
        f"gunicorn gthread workers x threads: {sizing} (libs/platform/gunicorn_config.py)",
    ]


# ---- start-up and idle memory -------------------------------------------------------------


@dataclass
class Startup:
    make_up_seconds: float
    services_ready_seconds: dict[str, float]
    steps: dict[str, float]


def restart() -> Startup:
    """``make down``, then ``make up`` timed as a user would see it; devstack's own record."""
    subprocess.run(["make", "-s", "down"], cwd=REPO, check=True, capture_output=True)
    began = time.monotonic()
    done = subprocess.run(["make", "-s", "up"], cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f"make up failed:\n{done.stdout}{done.stderr}")
    record = json.loads((RUN_DIR / "startup.json").read_text())
    return Startup(seconds, record["services_ready_seconds"], record["steps"])


def memory_lines(figures: dict[str, tuple[float, int]]) -> list[str]:
    lines = ["| process group | processes | PSS MiB |", "|---|---:|---:|"]
    for name, (mib, count) in figures.items():
        lines.append(f"| {name} | {count} | {mib:.1f} |")
    lines.append(
        f"| **total** | {sum(c for _, c in figures.values())} | **{sum(m for m, _ in figures.values()):.1f}** |"
    )
    return lines


# ---- running and reporting ----------------------------------------------------------------


def lua_script(key: str) -> str:
    """A wrk script sending the key, in a private temp file (not on wrk's command line)."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", key):
        raise RuntimeError("unexpected characters in the API key")
    with tempfile.NamedTemporaryFile("w", prefix="bench-", suffix=".lua", delete=False) as handle:  # mode 0600
        handle.write(f'wrk.method = "GET"\nwrk.headers["X-API-Key"] = "{key}"\n')
    return handle.name


def table(results: dict[tuple[str, int], wrk.Result], paths: dict[str, str], connections: list[int]) -> list[str]:
    lines = [
        "| target | path | conns | req/s | p50 ms | p99 ms | socket errors | non-2xx | bytes/resp |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for conns in connections:
        for letter, label, _ in TARGETS:
            r = results[(letter, conns)]
            lines.append(
                f"| ({letter}) {label} | `{paths[letter]}` | {conns} | {r.requests_per_second:,.0f} | "
                f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.socket_errors} | {r.non_2xx} | {r.bytes_per_response:,.0f} |"
            )
    return lines


def accept(what: str, met: bool, figure: str) -> None:
    print(f"  {what}: {'yes' if met else 'NO'} ({figure})")


def main() -> int:
    if not ENV_FILE.exists():
        print("no local stack: run `make up` first", file=sys.stderr)
        return 1
    env = read_env_file(ENV_FILE)
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    seconds = _int_env("BENCH_SECONDS", 15)
    warmup = _int_env("BENCH_WARMUP", 2)
    connections = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "16,64").split(",") if c.strip()]
    settings = load_settings(env)

    print("Course Supporter benchmark (make bench)")
    for line in machine():
        print(f"  {line}")
    startup = None
    if os.environ.get("BENCH_RESTART", "1") != "0":
        print("  restarting the local stack: make down; make up (timed) …", flush=True)
        startup = restart()
        time.sleep(SETTLE_SECONDS)
    idle = pss_by_process_group(RUN_DIR)
    status, _ = request("GET", gateway + "/health")
    if status != 200:
        print(f"GET {gateway}/health answered {status or 'nothing'}: is the stack up? (`make up`)", file=sys.stderr)
        return 1
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        fixture = create_fixture(conn, gateway)
        script = lua_script(fixture.key)
        try:
            print(
                f"  course: {SHAPE['modules']} modules x {SHAPE['lessons']} lessons x "
                f"({SHAPE['concepts']} concepts + {SHAPE['exercises']} exercises), "
                f"document {fixture.document_bytes:,} bytes ({fixture.document_bytes / 1024:.1f} KiB)"
            )
            print(f"  wrk -t2 --latency, {seconds} s per run, connections {connections}, warm-up {warmup} s\n")
            paths = {letter: path for letter, _, path in TARGETS}
            paths["c"] = fixture.course_path
            scripts = {"c": script}
            if warmup > 0:
                for letter, _, _ in TARGETS:
                    url = gateway + paths[letter]
                    wrk.run(url, connections=connections[0], seconds=warmup, script=scripts.get(letter))
            results: dict[tuple[str, int], wrk.Result] = {}
            for conns in connections:
                for letter, label, _ in TARGETS:
                    print(f"  running ({letter}) {label} at {conns} connections …", flush=True)
                    results[(letter, conns)] = wrk.run(
                        gateway + paths[letter], connections=conns, seconds=seconds, script=scripts.get(letter)
                    )
        finally:
            Path(script).unlink(missing_ok=True)
            remove_fixture(conn, create_redis(settings.redis_url), fixture)

    print()
    print("\n".join(table(results, paths, connections)))
    print()
    for conns in connections:
        b, c = (results[(letter, conns)].requests_per_second for letter in "bc")
        print(f"  {conns} connections: course read / trivial endpoint (c/b) = {c / b:.1%}")
    print("\nidle memory, right after make up (PSS of every Python process):\n")
    print("\n".join(memory_lines(idle)))
    if startup:
        ready = ", ".join(f"{name} {value:.2f} s" for name, value in startup.services_ready_seconds.items())
        steps = ", ".join(f"{name} {value:.2f}" for name, value in startup.steps.items())
        print(f"\nstart-up: make up {startup.make_up_seconds:.2f} s")
        print(f"  each service from its process start to its first answer: {ready}")
        print(f"  devstack steps (s): {steps}")

    failed = sum(r.socket_errors + r.non_2xx for r in results.values())
    total_pss = sum(mib for mib, _ in idle.values())
    print("\nacceptance:")
    accept("no socket errors or error responses", failed == 0, f"{failed} failed")
    for conns in connections:
        ratio = results[("c", conns)].requests_per_second / results[("b", conns)].requests_per_second
        accept(f"c/b >= {MIN_C_OVER_B:.0%} at {conns} connections", ratio >= MIN_C_OVER_B, f"{ratio:.1%}")
        if conns in MAX_C_P99_MS:
            p99, bound = results[("c", conns)].p99_ms, MAX_C_P99_MS[conns]
            accept(f"(c) p99 <= {bound:.0f} ms at {conns} connections", p99 <= bound, f"{p99:.2f} ms")
    health = results[("d", connections[0])].requests_per_second
    accept(
        f"/health >= {MIN_HEALTH_RPS:,.0f} req/s at {connections[0]} connections",
        health >= MIN_HEALTH_RPS,
        f"{health:,.0f}",
    )
    idle_note = "" if startup else "; not idle: BENCH_RESTART=0"
    accept(
        f"idle Python PSS <= {MAX_IDLE_PSS_MIB:.0f} MiB",
        total_pss <= MAX_IDLE_PSS_MIB,
        f"{total_pss:.1f} MiB{idle_note}",
    )
    if startup:
        up = startup.make_up_seconds
        accept(f"make up < {MAX_UP_SECONDS:.0f} s", up < MAX_UP_SECONDS, f"{up:.2f} s")
        slowest = max(startup.services_ready_seconds.values())
        accept("each service ready < 1 s after its start", slowest < 1, f"slowest {slowest:.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
