"""``make bench-search``: concept search and student progress on a big course, against the
running local stack.

Seeds, for a throwaway tenant, one course of 50 modules x 5 lessons x 40 concepts (10 000
concepts, each with a 1536-dimension embedding made in PostgreSQL) and two exercises per
lesson, then measures:

  (a) GET /api/v1/courses/{id}/search?q=…  through the gateway with wrk, the question's
      embedding already in the Redis cache (put there the way the agent keys it: one
      concept's vector plus a little noise, so the expected best hit is known and checked);
  (b) the same nearest-neighbour query straight in SQL, with the HNSW index and with index
      scans off (an exact sequential scan and sort), p50/p99 and whether their top 10 agree;
  (c) GET /api/v1/students/{student_id}/progress?course_id=… for a student with 500 graded
      submissions, through the gateway with wrk;
  (d) full-text search (the path of every course whose provider has no embedding API) over a
      second course of 100 modules x 5 lessons x 20 concepts without embeddings, through the
      gateway with wrk: a question whose common word matches every concept, and one that
      matches none.

The course is deleted and the tenant deactivated afterwards. Exits 1 when a request failed
or the search's best hit is not the expected concept; slow figures are reported, not failed.

Settings: BENCH_SECONDS (10) per wrk run, BENCH_CONNECTIONS ("1,4,16") for search,
BENCH_PROGRESS_CONNECTIONS ("1,4"), BENCH_SQL_RUNS (200) per SQL variant.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import psycopg

from bench import wrk
from bench.course_read import ENV_FILE, lua_script, machine, remove_fixture, request, tenant_with_course
from bench.course_read import Fixture as _Fixture
from devstack.seed import made_up_structure
from devstack.stack import read_env_file
from libs.llm.registry import EMBEDDING_ACTION, load_registry
from libs.platform.redis_client import create_redis
from libs.platform.settings import Settings, load_settings, passed_overrides
from libs.store import concept_search, structure
from services.agent.check import submissions
from services.agent.check.search import cache_key

# made_up_structure's lesson timecodes stay valid up to 6 lessons a module
SHAPE = {"modules": 50, "lessons": 5, "concepts": 40, "exercises": 2}
CONCEPTS = SHAPE["modules"] * SHAPE["lessons"] * SHAPE["concepts"]
TEXT_CONCEPTS = 100 * 5 * 20
TEXT_SHAPE = {"modules": 100, "lessons": 5, "concepts": 20, "exercises": 0}
TEXT_QUESTIONS = {"matching every concept": "Concept 17.3.4", "matching none": "zebra quartz"}
SUBMISSIONS = 500
QUESTION = "How does a closure capture a variable from the enclosing scope?"
LIMIT = 10
STUDENT = "bench-student"
# The acceptance figure: search p99 through the gateway, query embedding cached.
MAX_SEARCH_P99_MS = 50.0


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _connections(name: str, default: str) -> list[int]:
    return [int(c) for c in os.environ.get(name, default).split(",") if c.strip()]


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# ---- the fixture ----------------------------------------------------------------------------


def seed(conn: psycopg.Connection, gateway: str) -> tuple[_Fixture, str]:
    """The tenant, its key and an empty course; the tenant id."""
    return tenant_with_course(conn, gateway, label="make bench-search", course={"title": "Search benchmark"})


def fill(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    """The course's structure: SHAPE, every concept with a random embedding."""
    started = time.monotonic()
    # the HNSW index takes each of the 10 000 vectors in turn: longer than the services' 60 s
    conn.execute("SET statement_timeout = 0")
    structure.replace(conn, tenant_id, course_id, made_up_structure(**SHAPE))
    # Vectors made by PostgreSQL itself: shipping 10 000 x 1536 floats as text would take longer
    # than the benchmark. Clustered like real embeddings (topics): 100 random centres, each
    # concept one of them plus noise, about 0.8 similar to its cluster and 0 to the others.
    # Uniform random vectors would be the one case graph indexes are worst at, and no course.
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE bench_centres ON COMMIT DROP AS SELECT n,"
            " ARRAY(SELECT random() - 0.5 + 0 * n FROM generate_series(1, 1536)) AS v FROM generate_series(0, 99) n"
        )
        conn.execute(
            "UPDATE concepts c SET embedding = ARRAY(SELECT b.v[g] + (random() - 0.5) * 0.5"
            " FROM generate_series(1, 1536) g)::vector FROM bench_centres b"
            " WHERE b.n = abs(hashtext(c.id::text)) %% 100 AND c.course_id = %s AND c.tenant_id = %s",
            (course_id, tenant_id),
        )
    # what autovacuum does to a course soon after it is written: statistics, and the visibility
    # map that lets search count a course's embedded concepts from concepts_embedded_idx alone
    conn.execute("VACUUM (ANALYZE) concepts")
    print(f"  seeded {CONCEPTS:,} concepts with embeddings in {time.monotonic() - started:.1f} s", flush=True)


def target(conn: psycopg.Connection, tenant_id: str, course_id: str) -> tuple[str, str]:
    """A concept in the middle of the course and a query vector near it (its own plus noise)."""
    concept_id, text = conn.execute(
        "SELECT id, embedding::text FROM concepts WHERE course_id = %s AND tenant_id = %s"
        " ORDER BY id OFFSET %s LIMIT 1",
        (course_id, tenant_id, CONCEPTS // 2),
    ).fetchone()
    rng = random.Random(13)  # noqa: S311 (noise, not secrecy)
    vector = [float(x) + rng.uniform(-0.05, 0.05) for x in text.strip("[]").split(",")]
    return str(concept_id), "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


def graded_submissions(conn: psycopg.Connection, tenant_id: str, course_id: str) -> None:
    """SUBMISSIONS graded submissions of STUDENT, one per exercise, a fifth of them failing."""
    exercises = [
        str(row[0])
        for row in conn.execute(
            "SELECT id FROM exercises WHERE course_id = %s AND tenant_id = %s ORDER BY id", (course_id, tenant_id)
        ).fetchall()
    ]
    with conn.transaction():
        for n in range(SUBMISSIONS):
            submission_id = str(uuid.uuid4())
            submissions.create(
                conn,
                tenant_id,
                submission_id=submission_id,
                course_id=course_id,
                exercise_id=exercises[n % len(exercises)],
                student_id=STUDENT,
                answer="an answer of a paragraph or so, as a student would write it",
                job_id=None,
            )
            score = 35 if n % 5 == 0 else 85
            grade = {"score": score, "passed": score >= 60, "feedback": "ok", "criteria": []}
            submissions.record_grade(
                conn, tenant_id, submission_id, grade, model="bench", provider="openai", prompt_version="-", cost_usd=0
            )


# ---- (b) SQL: the index against a sequential scan -------------------------------------------


def sql_timings(conn: psycopg.Connection, tenant_id: str, course_id: str, vector: str, runs: int) -> dict:
    results: dict[str, dict] = {}
    # what the API runs for this course (the index), and the exact scan it would run for a small one
    embedded = concept_search.embedded_concepts(conn, tenant_id, course_id)
    for variant, count in (("hnsw index", embedded), ("sequential scan", 0)):
        # the exact path with index scans off: every distance computed and sorted
        exact = "SELECT set_config('enable_indexscan', 'off', true)"
        times, top = [], []
        for _ in range(runs):
            started = time.perf_counter()
            with conn.transaction():
                if not count:
                    conn.execute(exact)
                top = concept_search.search_similar(conn, tenant_id, course_id, vector, LIMIT, embedded=count)
            times.append((time.perf_counter() - started) * 1000)
        with conn.transaction():
            conn.execute("SELECT set_config('enable_sort', 'off', true)" if count else exact)
            plan = conn.execute(
                "EXPLAIN (FORMAT JSON) SELECT id FROM concepts WHERE course_id = %s AND tenant_id = %s"
                " AND embedding IS NOT NULL ORDER BY embedding <=> %s::vector LIMIT %s",
                (course_id, tenant_id, vector, LIMIT),
            ).fetchone()[0]
        results[variant] = {"ms": _ms(times), "top": [str(r["id"]) for r in top], "plan": _plan_nodes(plan[0]["Plan"])}
    return results


def _plan_nodes(node: dict) -> str:
    name = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
    children = [_plan_nodes(child) for child in node.get("Plans", [])]
    return name + (f" <- {', '.join(children)}" if children else "")


# ---- running and reporting -------------------------------------------------------------------


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
    seconds = _int_env("BENCH_SECONDS", 10)
    search_connections = _connections("BENCH_CONNECTIONS", "1,4,16")
    progress_connections = _connections("BENCH_PROGRESS_CONNECTIONS", "1,4")
    runs = _int_env("BENCH_SQL_RUNS", 200)
    settings: Settings = load_settings({**env, **passed_overrides(os.environ)})
    # the model the agent keys its cache by: the embedding chain's, OPENAI_EMBEDDING_MODEL first
    registry = load_registry().with_served_model(settings.openai_embedding_model, embedding=True)
    model = registry.chain(EMBEDDING_ACTION, "default")[0].name
    redis_client = create_redis(settings.redis_url)

    print("Course Supporter search benchmark (make bench-search)")
    for line in machine()[:3]:
        print(f"  {line}")
    failures: list[str] = []
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        fixture, tenant_id = seed(conn, gateway)
        script = lua_script(fixture.key)
        key = cache_key(model, QUESTION)
        try:
            fill(conn, tenant_id, fixture.course_id)
            expected, vector = target(conn, tenant_id, fixture.course_id)
            redis_client.set(key, vector, ex=3600)
            graded_submissions(conn, tenant_id, fixture.course_id)
            query = urllib.parse.urlencode({"q": QUESTION, "limit": LIMIT})
            search_path = f"{fixture.course_path}/search?{query}"
            progress_path = f"/api/v1/students/{STUDENT}/progress?course_id={fixture.course_id}"
            status, body = request("GET", gateway + search_path, key=fixture.key)
            answer = json.loads(body) if status == 200 else {}
            if (
                answer.get("method") != "embedding"
                or not answer["items"]
                or answer["items"][0]["concept_id"] != expected
            ):
                failures.append(f"search answered {status}, not the expected best hit first: {body[:300]!r}")
            status, body = request("GET", gateway + progress_path, key=fixture.key)
            progress = json.loads(body) if status == 200 else {}
            if progress.get("attempted") != min(SUBMISSIONS, SHAPE["modules"] * SHAPE["lessons"] * SHAPE["exercises"]):
                failures.append(f"progress answered {status}: {body[:300]!r}")
            reviewed = sum(len(lesson["concepts"]) for lesson in progress.get("to_review", []))
            print(f"  progress document {len(body):,} bytes; {reviewed} concepts to review")

            status, body = request("POST", gateway + "/api/v1/courses", key=fixture.key, body={"title": "Full text"})
            text_course = json.loads(body)["id"]
            structure.replace(conn, tenant_id, text_course, made_up_structure(**TEXT_SHAPE))
            conn.execute("VACUUM (ANALYZE) concepts")
            text_paths = {
                name: f"/api/v1/courses/{text_course}/search?" + urllib.parse.urlencode({"q": q, "limit": LIMIT})
                for name, q in TEXT_QUESTIONS.items()
            }
            status, body = request("GET", gateway + text_paths["matching every concept"], key=fixture.key)
            if status != 200 or json.loads(body).get("method") != "full_text" or not json.loads(body)["items"]:
                failures.append(f"full-text search answered {status}: {body[:300]!r}")

            print(f"  SQL: {runs} runs of each variant …", flush=True)
            sql = sql_timings(conn, tenant_id, fixture.course_id, vector, runs)

            wrk.run(gateway + search_path, connections=2, seconds=2, script=script)  # warm-up
            search, progressed = {}, {}
            for conns in search_connections:
                print(f"  wrk search at {conns} connections …", flush=True)
                search[conns] = wrk.run(
                    gateway + search_path, connections=conns, seconds=seconds, threads=min(2, conns), script=script
                )
            full_text: dict[str, dict[int, wrk.Result]] = {name: {} for name in text_paths}
            for name, path in text_paths.items():
                for conns in search_connections:
                    print(f"  wrk full-text search ({name}) at {conns} connections …", flush=True)
                    full_text[name][conns] = wrk.run(
                        gateway + path, connections=conns, seconds=seconds, threads=min(2, conns), script=script
                    )
            for conns in progress_connections:
                print(f"  wrk progress at {conns} connections …", flush=True)
                progressed[conns] = wrk.run(
                    gateway + progress_path, connections=conns, seconds=seconds, threads=min(2, conns), script=script
                )
        finally:
            Path(script).unlink(missing_ok=True)
            redis_client.delete(key)
            remove_fixture(conn, create_redis(settings.redis_url), fixture)

    print()
    print(f"(a) search through the gateway, {CONCEPTS:,} concepts, limit {LIMIT}, query embedding cached")
    print(_table(search))
    print(f"\n(b) the nearest-neighbour query in SQL ({runs} runs each, one connection, in a transaction)")
    print("| variant | p50 ms | p99 ms | plan |\n|---|---:|---:|---|")
    for variant, figures in sql.items():
        p50, p99 = figures["ms"]
        print(f"| {variant} | {p50:.2f} | {p99:.2f} | {figures['plan']} |")
    agree = len(set(sql["hnsw index"]["top"]) & set(sql["sequential scan"]["top"]))
    print(f"  top {LIMIT} of the index found in the exact scan's top {LIMIT}: {agree}/{LIMIT}")
    print(f"\n(c) progress of a student with {SUBMISSIONS} graded submissions, through the gateway")
    print(_table(progressed))

    for name, results in full_text.items():
        print(f"\n(d) full-text search through the gateway, {TEXT_CONCEPTS:,} concepts without embeddings, {name}")
        print(_table(results))

    every_text = [r for results in full_text.values() for r in results.values()]
    failed = sum(r.socket_errors + r.non_2xx for r in [*search.values(), *progressed.values(), *every_text])
    print("\nacceptance:")
    print(f"  no socket errors or error responses: {'yes' if failed == 0 else f'NO ({failed})'}")
    for problem in failures:
        print(f"  NO: {problem}")
    for conns, result in search.items():
        verdict = "yes" if result.p99_ms < MAX_SEARCH_P99_MS else "NO"
        print(f"  search p99 < {MAX_SEARCH_P99_MS:.0f} ms at {conns} connections: {verdict} ({result.p99_ms:.2f} ms)")
    for name, results in full_text.items():
        for conns, result in results.items():
            verdict = "yes" if result.p99_ms < MAX_SEARCH_P99_MS else "NO"
            figure = f"{result.p99_ms:.2f} ms"
            print(f"  full-text p99 < {MAX_SEARCH_P99_MS:.0f} ms, {name}, {conns} connections: {verdict} ({figure})")
    return 1 if failed or failures else 0


def _table(results: dict[int, wrk.Result]) -> str:
    lines = ["| conns | req/s | p50 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|"]
    for conns, r in results.items():
        errors = r.socket_errors + r.non_2xx
        lines.append(f"| {conns} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {errors} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
