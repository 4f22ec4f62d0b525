"""What every reliability scenario shares: the stack it runs against, its report (one summary
line of counts), tenants and keys, timed HTTP calls, and the orphan count that says whether a
fault left rows, objects or multipart uploads behind.

The same scenario code runs against the local stack of ``make up`` (``python -m
tests.reliability``) and against the pytest session's stack (``quick``: shorter outages, and a
killed worker's lease expired by hand instead of waited out)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
import requests

from devstack.processes import wait_until
from devstack.stack import Stack
from libs.platform.settings import Settings, load_settings
from libs.platform.storage import Storage, create_storage
from libs.store.material_objects import tenant_prefix
from services.auth import tenants

# An error answer must come within this (plus half a second for the client's side): a fault
# is a prompt 503, not a wait. A request that waited out a short outage and then succeeded
# is no failure, but past HANG_AFTER it is a hang whatever its status.
ANSWER_WITHIN = 5.0
HANG_AFTER = 15.0


@dataclass
class Answer:
    """One HTTP exchange as a scenario saw it: status (0 when no answer came), seconds taken,
    and whether the body was JSON."""

    status: int
    seconds: float
    json_body: bool
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive from requests
    request: str = ""  # method and path, for the report
    ended: float = field(default_factory=time.monotonic)  # when the answer was complete


@dataclass
class Report:
    """A scenario's counts and failed expectations; :meth:`line` is its summary line."""

    name: str
    counts: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def check(self, condition: object, message: str) -> bool:
        if not condition:
            self.failures.append(message)
        return bool(condition)

    def count(self, name: str, value: object) -> None:
        self.counts[name] = value

    def statuses(self, name: str, answers: list[Answer]) -> Counter:
        """Count ``answers`` by status under ``name`` (``sent`` and ``status:count`` pairs)."""
        by_status = Counter(answer.status for answer in answers)
        self.counts[f"{name}_sent"] = len(answers)
        self.counts[name] = ",".join(f"{status}:{n}" for status, n in sorted(by_status.items())) or "-"
        return by_status

    @property
    def passed(self) -> bool:
        return not self.failures

    def line(self) -> str:
        counts = " ".join(f"{key}={_shown(value)}" for key, value in self.counts.items())
        verdict = "PASS" if self.passed else "FAIL"
        line = f"{verdict} {self.name:<22} {self.seconds:6.1f}s  {counts}"
        if self.failures:
            line += "  | " + "; ".join(self.failures)
        return line


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace(" ", "_")


@dataclass
class Context:
    """The stack under test and what scenarios reach it with."""

    stack: Stack
    quick: bool = False

    def __post_init__(self) -> None:
        self.settings: Settings = load_settings(self.stack.env)
        self.storage: Storage = create_storage(self.settings)
        self.url = self.stack.gateway_url

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.postgres_conninfo, autocommit=True, connect_timeout=5)

    def tenant(self) -> Tenant:
        """A fresh tenant with a key of both scopes and high limits."""
        name = f"reliability-{uuid.uuid4().hex[:10]}"
        with self.connect() as conn:
            tenant_id = tenants.create_tenant(conn, name)
        tenant = Tenant(self, name, tenant_id)
        tenant.key = tenant.new_key()
        return tenant

    def health(self) -> tuple[int, dict]:
        return self.stack.health()

    def wait_for_check(self, name: str, value: str, *, timeout: float = 30) -> float:
        """Seconds until ``/health`` reports check ``name`` as ``value``."""
        started = time.monotonic()
        wait_until(
            lambda: self.health()[1].get("checks", {}).get(name) == value,
            timeout=timeout,
            what=f"/health to say {name} {value}",
        )
        return time.monotonic() - started

    def wait_healthy(self, *, timeout: float = 60) -> float:
        """Seconds until every process behind the gateway sees the stack whole (see
        :meth:`devstack.stack.Stack.wait_whole`)."""
        started = time.monotonic()
        self.stack.wait_whole(timeout=timeout)
        return time.monotonic() - started


@dataclass
class Tenant:
    context: Context
    name: str
    id: str
    key: str = ""

    def new_key(
        self, scopes: tuple[str, ...] = ("prep", "check"), *, rate_prep: int = 100_000, rate_check: int = 100_000
    ) -> str:
        with self.context.connect() as conn:
            return tenants.create_key(
                conn,
                tenant=self.name,
                scopes=scopes,
                label="reliability",
                rate_prep=rate_prep,
                rate_check=rate_check,
                expires_in_days=None,
            ).secret

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def course(self, title: str = "Reliability") -> str:
        answer = call(self.context, "POST", "/api/v1/courses", self.key, json={"title": title})
        if answer.status != 201:
            raise RuntimeError(f"could not create a course: {answer.status} {answer.body}")
        return answer.body["id"]


def call(
    context: Context,
    method: str,
    path: str,
    key: str | None = None,
    *,
    timeout: float = 30,
    session: requests.Session | None = None,
    **kwargs: object,
) -> Answer:
    """One request through the gateway; a connection error or timeout is status 0."""
    headers = {**({"X-API-Key": key} if key else {}), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    started = time.monotonic()
    try:
        response = (session or requests).request(method, context.url + path, headers=headers, timeout=timeout, **kwargs)
    except requests.RequestException:
        return Answer(0, time.monotonic() - started, False, request=f"{method} {path}")
    seconds = time.monotonic() - started
    try:
        body = response.json()
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
    except ValueError:
        body, is_json = response.text, False
    return Answer(
        response.status_code, seconds, is_json or not response.content, body, response.headers, f"{method} {path}"
    )


def upload(context: Context, key: str, course_id: str, name: str, data: bytes, source_type: str = "text") -> Answer:
    return call(
        context,
        "POST",
        f"/api/v1/courses/{course_id}/materials",
        key,
        data={"source_type": source_type},
        files={"file": (name, data)},
    )


def in_parallel(tasks: list[Callable[[], Answer]], workers: int) -> list[Answer]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda task: task(), tasks))


@contextmanager
def load(context: Context, make_requests: Callable[[int], Answer], *, clients: int) -> Iterator[list[Answer]]:
    """``clients`` threads calling ``make_requests(i)`` in a loop while the block runs; the
    list fills with their answers."""
    answers: list[Answer] = []
    stop = threading.Event()

    def client(index: int) -> None:
        n = 0
        while not stop.is_set():
            # numbered across clients, so that clients take turns of kind, not all the same
            answers.append(make_requests(index + n * clients))
            n += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


@dataclass(frozen=True)
class Leftovers:
    """What a tenant's courses hold after a fault: material rows, ingestion jobs, S3 objects,
    open multipart uploads, and the orphans among them (an object without a row, a row whose
    object is missing, any open multipart upload)."""

    rows: int
    jobs: int
    objects: int
    open_uploads: int
    orphan_objects: int
    missing_objects: int

    @property
    def orphans(self) -> int:
        return self.orphan_objects + self.missing_objects + self.open_uploads


def leftovers(context: Context, tenant_id: str) -> Leftovers:
    with context.connect() as conn:
        keys = [
            key
            for (key,) in conn.execute(
                "SELECT s3_key FROM source_materials WHERE tenant_id = %s AND s3_key IS NOT NULL", (tenant_id,)
            )
        ]
        rows = conn.execute("SELECT count(*) FROM source_materials WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        jobs = conn.execute(
            "SELECT count(*) FROM jobs WHERE tenant_id = %s AND kind = 'ingest_material'", (tenant_id,)
        ).fetchone()[0]
    prefix = tenant_prefix(tenant_id)
    client, bucket = context.storage.client, context.storage.bucket
    objects = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    return Leftovers(
        rows=rows,
        jobs=jobs,
        objects=len(objects),
        open_uploads=len(uploads),
        orphan_objects=len(set(objects) - set(keys)),
        missing_objects=len(set(keys) - set(objects)),
    )


def count_leftovers(report: Report, found: Leftovers) -> None:
    report.count("rows", found.rows)
    report.count("jobs", found.jobs)
    report.count("objects", found.objects)
    report.count("open_uploads", found.open_uploads)
    report.count("orphans", found.orphans)
    report.check(found.orphans == 0, f"orphans left: {found}")


def json_error(answer: Answer) -> bool:
    """Whether an error answer is the API's JSON error shape."""
    return answer.json_body and isinstance(answer.body, dict) and "title" in answer.body


def service_pids(stack: Stack) -> dict[str, int | None]:
    """Each gunicorn master's pid: the same after a fault means no service was restarted."""
    from libs.platform.settings import SERVICES

    return {name: stack.processes.pid(name) for name in SERVICES}


def dumps(value: object) -> str:
    return json.dumps(value, default=str)[:300]
