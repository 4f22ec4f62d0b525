"""``make bench``: how fast the course document is served, against the running local stack.

Seeds one course of 5 modules x 4 lessons x (3 concepts + 2 exercises) for a throwaway
tenant, then loads three gateway paths with wrk, at each connection count in turn:

  (a) GET /health/gateway        nginx answers alone: the machine's ceiling
  (b) GET /health/courses/live   a dependency-free endpoint of the service: the stack's per-request ceiling
  (c) GET /api/v1/courses/{id}   authenticated, rate-limited (limits far above the load), the cached document

It prints requests/s, p50, p99, socket errors and error responses for each, and the ratios
c/b and b/a. The course is deleted and the tenant deactivated afterwards. Exits 1 when any
request failed (the figures would not mean what they say); slow figures are reported, not failed.

Settings: BENCH_SECONDS (15) per run, BENCH_CONNECTIONS ("16,64"), BENCH_WARMUP (2) seconds
per target before measuring, discarded.
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
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import wrk
from devstack.seed import seed_structure
from devstack.stack import REPO, read_env_file
from libs.settings import load_settings
from services.auth import tenants

ENV_FILE = REPO / ".data" / "local.env"
RUN_DIR = REPO / ".data" / "run"
SHAPE = {"modules": 5, "lessons": 4, "concepts": 3, "exercises": 2}
RATE_LIMIT = 10_000_000  # per minute, both scopes: the bucket never empties under this load
TARGETS = (
    ("a", "nginx static", "/health/gateway"),
    ("b", "service, no deps", "/health/courses/live"),
    ("c", "course document", "/api/v1/courses/{id}"),
)
# The acceptance figures.
MIN_C_OVER_B = 0.30
MAX_P99_MS_AT_64 = 100.0


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


def create_fixture(conn: psycopg.Connection, gateway: str) -> Fixture:
    name = f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    tenants.create_tenant(conn, name)
    # Straight to the repository: the CLI caps limits at 1 000 000/min, too low for a ceiling run.
    key = tenants.create_key(
        conn,
        tenant=name,
        scopes=("prep", "check"),
        label="make bench",
        rate_prep=RATE_LIMIT,
        rate_check=RATE_LIMIT,
        expires_in_days=1,
    )
    fixture = Fixture(gateway, name, key.secret)
    status, body = request(
        "POST",
        gateway + "/api/v1/courses",
        key=key.secret,
        body={"title": "Benchmark course", "description": "Seeded by make bench.", "learning_goal": "Measure."},
    )
    if status != 201:
        raise RuntimeError(f"POST /api/v1/courses answered {status}: {body[:300]!r}")
    fixture.course_id = json.loads(body)["id"]
    tenant_id = conn.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()[0]
    seed_structure(conn, str(tenant_id), fixture.course_id, **SHAPE)
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


def remove_fixture(conn: psycopg.Connection, fixture: Fixture) -> None:
    """Delete the course through the API and deactivate the tenant; only its row stays."""
    problems = []
    if fixture.course_id:
        status, body = request("DELETE", fixture.gateway + fixture.course_path, key=fixture.key)
        if status != 204:
            problems.append(f"DELETE {fixture.course_path} answered {status}: {body[:200]!r}")
    try:
        tenants.deactivate_tenant(conn, fixture.tenant)
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
    threads = os.environ.get("WEB_THREADS", "4")
    return [
        f"cpu: {os.cpu_count()} x {_cpu_model()}; RAM {_ram_gib():.1f} GiB",
        f"kernel: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"{nginx}; {wrk_version}",
        f"courses service: gunicorn gthread, {_gunicorn_workers('courses')} workers x {threads} threads "
        f"(threads from WEB_THREADS as seen by make bench)",
    ]


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


def main() -> int:
    if not ENV_FILE.exists():
        print("no local stack: run `make up` first", file=sys.stderr)
        return 1
    env = read_env_file(ENV_FILE)
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    status, _ = request("GET", gateway + "/health")
    if status != 200:
        print(f"GET {gateway}/health answered {status or 'nothing'}: is the stack up? (`make up`)", file=sys.stderr)
        return 1
    seconds = _int_env("BENCH_SECONDS", 15)
    warmup = _int_env("BENCH_WARMUP", 2)
    connections = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "16,64").split(",") if c.strip()]
    settings = load_settings(env)

    print("Course Supporter benchmark (make bench)")
    for line in machine():
        print(f"  {line}")
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
            paths = {"a": TARGETS[0][2], "b": TARGETS[1][2], "c": fixture.course_path}
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
            remove_fixture(conn, fixture)

    print()
    print("\n".join(table(results, paths, connections)))
    print()
    for conns in connections:
        a, b, c = (results[(letter, conns)].requests_per_second for letter in "abc")
        print(f"  {conns} connections: c/b = {c / b:.1%}   b/a = {b / a:.1%}")

    failed = sum(r.socket_errors + r.non_2xx for r in results.values())
    print("\nacceptance:")
    print(f"  no socket errors or error responses: {'yes' if failed == 0 else f'NO ({failed})'}")
    for conns in connections:
        ratio = results[("c", conns)].requests_per_second / results[("b", conns)].requests_per_second
        verdict = "yes" if ratio >= MIN_C_OVER_B else "NO"
        print(f"  c/b >= {MIN_C_OVER_B:.0%} at {conns} connections: {verdict} ({ratio:.1%})")
    if 64 in connections:
        worst = max(results[(letter, 64)].p99_ms for letter, _, _ in TARGETS)
        c99 = results[("c", 64)].p99_ms
        print(
            f"  p99 < {MAX_P99_MS_AT_64:.0f} ms at 64 connections: {'yes' if worst < MAX_P99_MS_AT_64 else 'NO'} "
            f"((c) {c99:.2f} ms; worst of a-c {worst:.2f} ms)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
