"""Scenarios on the public surface: bad input (schemathesis over the merged document), the
isolation matrix generated from that document, and the rate limit under a concurrent burst."""

from __future__ import annotations

import itertools
import re
import threading
import time

import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from libs.http.pagination import encode_cursor, encode_position
from libs.webhooks import endpoints, events
from tests.reliability.harness import Answer, Context, Report, Tenant, call, in_parallel
from tests.reliability.jobs import model_services, structured_course

# As in tests/e2e/test_openapi.py: cursors are opaque, real ones are generated.
schemathesis.openapi.format("cursor", st.builds(encode_cursor, st.datetimes(), st.uuids()))
schemathesis.openapi.format("position-cursor", st.builds(encode_position, st.integers(0, 2**31 - 1)))
schemathesis.openapi.format("webhook-url", st.builds("http://127.0.0.1:{}/hooks".format, st.integers(1, 65535)))

_QUIET = hypothesis.settings(
    deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck), derandomize=True
)
# the first example, unshrunk: shrinking an always-true condition would try hundreds more
_FIRST = hypothesis.settings(_QUIET, phases=[hypothesis.Phase.generate], max_examples=10)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def api_operations(context: Context) -> list:
    """Every operation of the gateway's merged document that takes an API key."""
    schema = schemathesis.openapi.from_url(f"{context.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.definition.raw.get("security")]


def path_names(operation: object) -> list[str]:
    return re.findall(r"{([^}]+)}", operation.path)


# ---- 1. bad input ----------------------------------------------------------------------------


def _failure_text(exc: BaseException) -> str:
    """schemathesis' report without its blank lines and reproduction hints: the check that
    failed and the answer it saw."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Reproduce with", "curl "))]
    return " / ".join(kept)[:600]


def _documented_503(response: object, operation: object) -> bool:
    """A 503 the operation documents: a dependency it names is not configured (no LLM
    provider on a stack started without one), which is the answer the document promises."""
    return response.status_code == 503 and "503" in operation.definition.raw.get("responses", {})


def bad_input(context: Context, report: Report) -> None:
    """schemathesis over every operation through the gateway, every check: no 5xx (but a 503
    the operation documents, counted apart), no answer outside the document; stateful runs
    over the document's links where it has any."""
    tenant = context.tenant()
    key = tenant.new_key(rate_prep=1_000_000, rate_check=1_000_000)
    schema = schemathesis.openapi.from_url(f"{context.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    examples = 10 if context.quick else 60
    sent: list[int] = []
    documented: list[str] = []
    problems: list[str] = []
    lock = threading.Lock()
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(_QUIET, max_examples=examples)
        def exchange(case: object) -> None:
            response = case.call(base_url=context.url, headers={"X-API-Key": key}, timeout=30)
            with lock:
                sent.append(response.status_code)
            if _documented_503(response, case.operation):
                documented.append(f"{case.operation.method.upper()} {case.operation.path}")
                case.validate_response(response, excluded_checks=[not_a_server_error])
            else:
                case.validate_response(response)

        try:
            exchange()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            problems.append(f"{operation.method.upper()} {operation.path}: {_failure_text(exc)}")
    links = sum(
        len(response.get("links", {}))
        for path in schema.raw_schema["paths"].values()
        for op in path.values()
        if isinstance(op, dict)
        for response in op.get("responses", {}).values()
    )
    report.count("operations", len(operations))
    report.count("links", links)
    if links:
        machine = schema.as_state_machine()
        try:
            machine.run(settings=hypothesis.settings(_QUIET, max_examples=examples, stateful_step_count=5))
        except (Exception, BaseExceptionGroup) as exc:
            problems.append(f"stateful: {str(exc).splitlines()[0][:200]}")
    report.count("requests", len(sent))
    report.statuses("answers", [Answer(status, 0.0, True) for status in sent])
    report.count("5xx", sum(1 for status in sent if status >= 500) - len(documented))
    report.count("documented_503", len(documented))
    if documented:
        report.count("documented_503_on", ",".join(sorted(set(documented))))
    report.count("failing_operations", len(problems))
    report.check(not problems, "; ".join(problems))


# ---- 2. isolation matrix ---------------------------------------------------------------------


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"  # deliveries
    return word[:-1] if word.endswith("s") else word


def _harvest(value: object, path: str, names: set[str], found: dict[str, object], list_key: str | None = None) -> None:
    """Ids for path parameters from an answer: an ``id`` inside a list named ``lessons``
    fills ``lesson_id`` (``items`` of a page take the name of the path's last collection),
    and a field named like a parameter (``job_id``, ``version``) fills it."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in names and key not in found and isinstance(item, (str, int)) and not isinstance(item, bool):
                found[key] = item
            if key == "id" and list_key and f"{_singular(list_key)}_id" in names:
                found.setdefault(f"{_singular(list_key)}_id", item)
            if isinstance(item, list):
                collection = key
                if key == "items":
                    segments = [s for s in path.split("/") if s and not s.startswith("{")]
                    collection = segments[-1] if segments else key
                for element in item:
                    _harvest(element, path, names, found, collection)
            elif isinstance(item, dict):
                _harvest(item, path, names, found, None)
    elif isinstance(value, list):
        for element in value:
            _harvest(element, path, names, found, list_key)


_FIRST_CASES: dict[tuple[str, str], object] = {}


def _first_case(operation: object) -> object:
    """A request schemathesis makes for ``operation``, valid against its schema (the same one
    each run: derandomized; made once, since finding it takes a while)."""
    label = (operation.method.upper(), operation.path)
    if label not in _FIRST_CASES:
        _FIRST_CASES[label] = hypothesis.find(operation.as_strategy(), lambda _case: True, settings=_FIRST)
    return _FIRST_CASES[label]


def _fill(case: object, ids: dict[str, object]) -> object:
    case.path_parameters = {**(case.path_parameters or {}), **{n: ids[n] for n in path_names(case.operation)}}
    return case


def _collection(operation: object) -> str:
    segments = [s for s in operation.path.split("/") if s and not s.startswith("{")]
    return segments[-1] if segments else ""


def first_tenant_ids(
    context: Context, owner: Tenant, operations: list, known: dict[str, object] | None = None
) -> dict[str, object]:
    """Real ids of the first tenant for every path parameter the document names: ``known``
    ones, a course with a done material and a structure run (lessons, versions, jobs), then
    whatever the tenant's GET answers name, until no more turn up. A parameter still missing then is made
    by a POST to its collection (``submission_id`` by POST …/submissions), whose request and
    answer are read for more (its ``student_id``); no other POST runs, since one could
    replace what was found (a new structure run makes new lesson ids)."""
    names = {name for op in operations for name in path_names(op)}
    ids: dict[str, object] = dict(known or {})
    course_id, material_id, job_id = structured_course(context, owner)
    ids.update(course_id=course_id, material_id=material_id, job_id=job_id)

    def ready(operation: object) -> bool:
        return all(name in ids for name in path_names(operation))

    for _ in range(4):
        before = dict(ids)
        for operation in operations:
            method = operation.method.upper()
            makes = f"{_singular(_collection(operation))}_id"
            if not ready(operation) or not (method == "GET" or (method == "POST" and makes in names - ids.keys())):
                continue
            case = _fill(_first_case(operation), ids)
            response = case.call(base_url=context.url, headers={"X-API-Key": owner.key}, timeout=30)
            if response.status_code >= 300 or not response.content:
                continue
            try:
                body = response.json()
            except ValueError:
                continue
            _harvest(body, operation.path, names, ids)
            if method == "POST":
                _harvest(case.body, operation.path, names, ids)
                if isinstance(body, dict) and "id" in body:
                    ids.setdefault(makes, body["id"])
        if ids == before:
            break
    return ids


def _owner_ids_in(text: str, ids: dict[str, object]) -> list[str]:
    return [name for name, value in ids.items() if isinstance(value, str) and _UUID.match(value) and value in text]


def _matrix(
    context: Context, other: Tenant, operations: list, ids: dict[str, object], answers: list[Answer]
) -> tuple[list[str], list[str], list[str]]:
    """Every operation called with the second tenant's key on the first tenant's ids: the
    operations whose ids could not be filled, the answers that showed the first tenant's ids,
    and the operations with ids that did not answer 404."""
    unfilled, leaks, not_404 = [], [], []
    # DELETEs last: were isolation broken, they would remove what later requests ask for
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        label = f"{operation.method.upper()} {operation.path}"
        wanted = path_names(operation)
        missing = [name for name in wanted if name not in ids]
        if missing:
            unfilled.append(f"{label} ({', '.join(missing)})")
            continue
        case = _fill(_first_case(operation), ids)
        started = time.monotonic()
        response = case.call(base_url=context.url, headers={"X-API-Key": other.key}, timeout=30)
        answers.append(Answer(response.status_code, time.monotonic() - started, True))
        if wanted and response.status_code != 404:
            not_404.append(f"{label}: {response.status_code}")
        if (found := _owner_ids_in(response.text, ids)) and not (wanted and response.status_code == 404):
            leaks.append(f"{label} shows {found}")
    return unfilled, leaks, not_404


def _webhook_with_a_delivery(context: Context, owner: Tenant) -> dict[str, object]:
    """A webhook of the owner with one delivery on its log (an event of the owner's, as the
    code records one), so the delivery routes have an id to try; its address is refused at
    delivery (a local name), so nothing leaves the machine."""
    with context.connect() as conn, conn.transaction():
        webhook = endpoints.create(
            conn, owner.id, {"url": "https://hooks.reliability.invalid/in", "event_types": ["material.processed"]}
        )
        events.emit(conn, owner.id, "material.processed", about="material:reliability", data={})
        delivery = conn.execute("SELECT id FROM webhook_deliveries WHERE endpoint_id = %s", (webhook["id"],))
        return {"webhook_id": str(webhook["id"]), "delivery_id": str(delivery.fetchone()[0])}


def isolation(context: Context, report: Report) -> None:
    """For every operation with an id in its path, a second tenant's key gets 404 on the first
    tenant's ids; no operation without one (lists, searches, reports) shows the second tenant
    any of them; the first tenant's things are all still there afterwards."""
    owner, other = context.tenant(), context.tenant()
    operations = api_operations(context)
    with model_services(context):
        ids = first_tenant_ids(context, owner, operations, _webhook_with_a_delivery(context, owner))
        answers: list[Answer] = []
        unfilled, leaks, not_404 = _matrix(context, other, operations, ids, answers)
        for path in (
            f"/api/v1/courses/{ids['course_id']}",
            f"/api/v1/courses/{ids['course_id']}/materials/{ids['material_id']}",
        ):
            still = call(context, "GET", path, owner.key)
            report.check(still.status == 200, f"the first tenant lost {path}: {still.status}")
    report.count("operations", len(operations))
    report.count("with_ids", sum(1 for op in operations if path_names(op)))
    report.count(
        "parameters_filled", ",".join(sorted(name for name in ids if any(name in path_names(op) for op in operations)))
    )
    report.statuses("answers", answers)
    report.count("not_404", len(not_404))
    report.count("leaks", len(leaks))
    report.count("unfilled", len(unfilled))
    report.check(not unfilled, "no first-tenant id for " + "; ".join(unfilled))
    report.check(not not_404, "not 404 for the second tenant: " + "; ".join(not_404))
    report.check(not leaks, "first tenant's ids shown to the second: " + "; ".join(leaks))


# ---- 3. rate limit ---------------------------------------------------------------------------


def _spread_paths(course_id: str) -> list[str]:
    """Routes of every service that the check scope reaches (auth, courses, uploads, agent)."""
    return [
        "/api/v1/auth/me",
        "/api/v1/courses",
        f"/api/v1/courses/{course_id}",
        f"/api/v1/courses/{course_id}/materials",
        f"/api/v1/courses/{course_id}/structure/versions",
    ]


def rate_limit(context: Context, report: Report) -> None:
    """20 concurrent clients over every service with one key at L a minute: exactly L pass,
    the rest are 429 with a Retry-After that is right; after it, requests pass again."""
    limit = 15 if context.quick else 10
    clients = 20
    tenant = context.tenant()
    course_id = tenant.course()  # spends the prep bucket; the burst spends check
    key = tenant.new_key(("check",), rate_check=limit)
    paths = itertools.islice(itertools.cycle(_spread_paths(course_id)), clients)
    gate = threading.Barrier(clients)

    def client(path: str) -> Answer:
        gate.wait()
        return call(context, "GET", path, key)

    burst = in_parallel([lambda p=path: client(p) for path in paths], clients)
    by_status = report.statuses("burst", burst)
    passed = sum(n for status, n in by_status.items() if 200 <= status < 300)
    refused = [answer for answer in burst if answer.status == 429]
    report.check(passed == limit, f"{passed} of the burst passed, not exactly {limit}")
    report.check(len(refused) == clients - limit, f"{len(refused)} refused with 429, not {clients - limit}")
    # a token comes back every 60/L seconds: that is the longest anyone should be told to wait
    longest = -(-60 // limit)
    waits = [int(answer.headers.get("Retry-After", "0") or 0) for answer in refused]
    report.count("retry_after", f"{min(waits, default=0)}-{max(waits, default=0)}")
    report.check(all(1 <= wait <= longest for wait in waits), f"Retry-After outside 1..{longest}: {waits}")
    report.check(all(answer.json_body for answer in refused), "a 429 was not JSON")
    started = time.monotonic()
    time.sleep(max(waits, default=longest))
    after = call(context, "GET", "/api/v1/auth/me", key)
    report.count("after_retry_after", after.status)
    report.count("recovered_s", time.monotonic() - started)
    report.check(after.status == 200, f"after Retry-After: {after.status}")
