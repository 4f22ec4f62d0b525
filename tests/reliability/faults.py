"""A dependency or a process fails while clients call the stack: PostgreSQL stopped, Redis
stopped, S3 stopped mid-upload, a gunicorn worker SIGKILLed. Each scenario restores what it
stopped and waits for /health before it returns, so the stack is whole for what runs next."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from devstack.processes import wait_until
from libs.platform.settings import SERVICES
from tests.reliability.harness import (
    ANSWER_WITHIN,
    HANG_AFTER,
    Answer,
    Context,
    Report,
    Tenant,
    call,
    count_leftovers,
    dumps,
    in_parallel,
    json_error,
    leftovers,
    load,
    service_pids,
    upload,
)


def _mixed_requests(context: Context, tenant: Tenant, course_id: str) -> Callable[[int], Answer]:
    """Reads, writes and small uploads, in turn, over the courses, uploads and auth services."""

    def make(n: int) -> Answer:
        kind = n % 4
        if kind == 0:
            return call(context, "GET", "/api/v1/courses", tenant.key, timeout=15)
        if kind == 1:
            return call(context, "POST", "/api/v1/courses", tenant.key, json={"title": f"load {n}"}, timeout=15)
        if kind == 2:
            return upload(context, tenant.key, course_id, f"notes-{n}.txt", f"notes {n} under load\n".encode() * 2000)
        return call(context, "GET", "/api/v1/auth/me", tenant.key, timeout=15)

    return make


def _paths(course_id: str) -> list[str]:
    """A read of each service: auth, courses, uploads, agent."""
    return [
        "/api/v1/auth/me",
        "/api/v1/courses",
        f"/api/v1/courses/{course_id}/materials",
        f"/api/v1/courses/{course_id}/structure/versions",
    ]


def _probe_all(context: Context, tenant: Tenant, course_id: str) -> list[Answer]:
    return [call(context, "GET", path, tenant.key, timeout=10) for path in _paths(course_id)]


def _until_all_2xx(context: Context, tenant: Tenant, course_id: str, timeout: float = 60) -> float:
    started = time.monotonic()
    wait_until(
        lambda: all(200 <= a.status < 300 for a in _probe_all(context, tenant, course_id)),
        timeout=timeout,
        what="every service to answer 2xx",
    )
    return time.monotonic() - started


def _last_failure(answers: list[Answer], start: int) -> float:
    """When the last answer from ``start`` on that was not 2xx ended (0 if none)."""
    return max((a.ended for a in answers[start:] if not 200 <= a.status < 300), default=0.0)


def _check_outage_answers(
    report: Report, answers: list[Answer], allowed: set[int], timed: list[Answer] | None = None
) -> None:
    """Statuses within ``allowed``, errors in JSON, and each of ``timed`` (all by default)
    answered in time: an error within ANSWER_WITHIN seconds, anything within HANG_AFTER."""
    by_status = report.statuses("answers", answers)
    unexpected = {status: n for status, n in by_status.items() if status not in allowed}
    sample = next((a.body for a in answers if a.status not in allowed), None)
    report.check(not unexpected, f"answers outside {sorted(allowed)}: {unexpected}, e.g. {dumps(sample)}")
    timed = answers if timed is None else timed
    slow = [
        f"{a.request} {a.status} in {a.seconds:.1f}s"
        for a in timed
        if a.seconds > HANG_AFTER or (a.status >= 500 and a.seconds > ANSWER_WITHIN + 0.5)
    ]
    report.count("slowest_error_s", max((a.seconds for a in timed if a.status >= 500), default=0.0))
    report.count("slowest_s", max((a.seconds for a in timed), default=0.0))
    report.check(not slow, f"{len(slow)} answers too slow: {slow[:5]}")
    report.check(all(json_error(a) for a in answers if a.status >= 400), "an error answer was not JSON")


# ---- 4. PostgreSQL stopped under load ------------------------------------------------------


def postgres_stopped(context: Context, report: Report) -> None:
    """PostgreSQL stopped for 10 s (2 s in make test) under load: JSON 503s within 5 s, /health
    names db; afterwards every service answers 2xx without a restart; no upload left an orphan."""
    _postgres_out(context, report, context.stack.stop_postgres, context.stack.start_postgres)


def postgres_frozen(context: Context, report: Report) -> None:
    """PostgreSQL frozen (SIGSTOP: its sockets stay open and nothing answers, as in a network
    partition) under load: the same as stopped — JSON 503s within 5 s, /health names db, every
    service answers 2xx again within seconds of the thaw without a restart, no orphan."""
    _postgres_out(context, report, lambda: context.stack.freeze("postgres"), lambda: context.stack.thaw("postgres"))


def _postgres_out(context: Context, report: Report, stop: Callable[[], None], start: Callable[[], None]) -> None:
    outage = 2.0 if context.quick else 10.0
    tenant = context.tenant()
    course_id = tenant.course()
    pids = service_pids(context.stack)
    requests_for = _mixed_requests(context, tenant, course_id)
    with load(context, requests_for, clients=6) as answers:
        time.sleep(0.5)
        stop()
        try:
            report.count("db_fail_seen_s", context.wait_for_check("db", "fail", timeout=15))
            time.sleep(outage)
        finally:
            start()
        restarted_at, restarted = time.monotonic(), len(answers)
        _until_all_2xx(context, tenant, course_id)
        # the load goes on until it has run clean for a while: every answer 2xx from then on
        deadline = restarted_at + 60

        def clean_for(seconds: float) -> bool:
            return time.monotonic() - max(_last_failure(answers, restarted), restarted_at) >= seconds

        while time.monotonic() < deadline and not clean_for(3):
            time.sleep(0.5)
    _check_outage_answers(report, answers, {200, 201, 503})
    last = _last_failure(answers, restarted)
    # recovered: from the restart to the end of the last failed answer
    report.count("recovered_s", max(0.0, last - restarted_at))
    report.count("failed_after_restart", sum(1 for a in answers[restarted:] if not 200 <= a.status < 300))
    clean = [a for a in answers[restarted:] if a.ended > last]
    report.count("clean_after", len(clean))
    report.check(len(clean) >= 20, f"only {len(clean)} answers after the last failure")
    report.check(last - restarted_at < 30, f"failures went on {last - restarted_at:.0f} s after the restart")
    report.check(service_pids(context.stack) == pids, "a service was restarted")
    report.count("health_after_s", context.wait_healthy(timeout=60))
    count_leftovers(report, leftovers(context, tenant.id))


# ---- 5. Redis stopped ------------------------------------------------------------------------


def _warnings_since(context: Context, since: datetime.datetime) -> int:
    """'rate limiter unavailable' warnings the services logged at ``since`` or later."""
    found = 0
    for name in SERVICES:
        with open(context.stack.processes.log_path(name), "rb") as log:
            for line in log:
                if b"rate limiter unavailable" not in line:
                    continue
                with contextlib.suppress(ValueError):
                    # logging's default asctime: local time, "2026-11-29 22:55:16,557"
                    if datetime.datetime.strptime(line[:19].decode(), "%Y-%m-%d %H:%M:%S") >= since:
                        found += 1
    return found


def redis_stopped(context: Context, report: Report) -> None:
    """Redis stopped: requests still pass (the limiter fails open) beyond the key's limit, the
    failure is logged, /health names redis; the limit holds again once Redis is back."""
    _redis_out(context, report, context.stack.stop_redis, context.stack.start_redis)


def redis_frozen(context: Context, report: Report) -> None:
    """Redis frozen (SIGSTOP, its socket open): as stopped — requests pass within 5 s (each
    call gives up after its 1 s socket timeout), /health names redis, the limit comes back."""
    _redis_out(context, report, lambda: context.stack.freeze("redis"), lambda: context.stack.thaw("redis"))


def _redis_out(context: Context, report: Report, stop: Callable[[], None], start: Callable[[], None]) -> None:
    limit = 5
    tenant = context.tenant()
    course_id = tenant.course()
    key = tenant.new_key(("check",), rate_check=limit)
    # each process logs once a minute while Redis is away: one that warned in the minute
    # before (another test stopped Redis) stays quiet now, and that warning counts
    since = datetime.datetime.now().replace(microsecond=0) - datetime.timedelta(seconds=61)
    stop()
    try:
        report.count("redis_fail_seen_s", context.wait_for_check("redis", "fail", timeout=15))
        during = [
            call(context, "GET", path, key, timeout=10)
            for path in itertools.islice(itertools.cycle(_paths(course_id)), limit * 4)
        ]
    finally:
        restarting = time.monotonic()
        start()
    _check_outage_answers(report, during, {200})
    warned = _warnings_since(context, since)
    report.count("warnings_logged", warned)
    report.check(warned >= 1, "no 'rate limiter unavailable' warning in the services' logs")
    context.wait_for_check("redis", "ok", timeout=30)
    report.count("recovered_s", time.monotonic() - restarting)
    after = [call(context, "GET", "/api/v1/auth/me", key, timeout=10) for _ in range(limit * 2)]
    passed = sum(1 for a in after if a.status == 200)
    report.count("after", f"200:{passed},429:{sum(1 for a in after if a.status == 429)}")
    report.check(passed <= limit + 1 and any(a.status == 429 for a in after), f"limit not back: {passed} passed")
    context.wait_healthy()


# ---- 6. S3 stopped during uploads ----------------------------------------------------------


class _SlowForm:
    """A multipart form whose file is read in 62 KiB pieces, ``pause`` apart; its length is
    known, so requests sends a Content-Length (411 without one) and streams it."""

    _PIECE = b"a slowly streamed line of text\n" * 2048

    def __init__(self, boundary: str, size: int, pause: float) -> None:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="source_type"\r\n\r\ntext\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        pieces = -(-size // len(self._PIECE))
        self._parts = [head, *[self._PIECE] * pieces, f"\r\n--{boundary}--\r\n".encode()]
        self._length = sum(len(part) for part in self._parts)
        self._pause = pause

    def __len__(self) -> int:
        return self._length

    def read(self, _size: int = -1) -> bytes:
        if not self._parts:
            return b""
        time.sleep(self._pause)
        return self._parts.pop(0)


def _slow_upload(context: Context, key: str, course_id: str, size: int) -> Answer:
    boundary = "reliability-boundary"
    return call(
        context,
        "POST",
        f"/api/v1/courses/{course_id}/materials",
        key,
        data=_SlowForm(boundary, size, 0.02),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )


def s3_stopped(context: Context, report: Report) -> None:
    """S3 stopped while uploads stream and while new ones arrive: JSON 503s, and within
    seconds of S3's return no row, job, object or open multipart upload is left of them;
    uploads work again."""
    _s3_out(context, report, context.stack.stop_s3, context.stack.start_s3, {201, 503})


def s3_frozen(context: Context, report: Report) -> None:
    """S3 frozen (SIGSTOP: its sockets open, nothing answering) while uploads stream and new
    ones arrive: as stopped — JSON 503s within 5 s (or 429: the uploads waiting on S3 hold the
    tenant's upload slots meanwhile), nothing left behind once it thaws, not even an upload
    S3 made from a request it answered only after the thaw."""
    _s3_out(context, report, lambda: context.stack.freeze("s3"), lambda: context.stack.thaw("s3"), {201, 429, 503})


def _s3_out(
    context: Context, report: Report, stop: Callable[[], None], start: Callable[[], None], allowed: set[int]
) -> None:
    tenant = context.tenant()
    course_id = tenant.course()
    size = 12 * 1024 * 1024  # two 8 MiB parts: the first is in S3 before the stop
    tasks = [lambda: _slow_upload(context, tenant.key, course_id, size) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        streaming = [pool.submit(task) for task in tasks]
        time.sleep(3.5)  # the first 8 MiB part of each is in S3 by now (at 3 MiB/s)
        stop()
        try:
            report.count("s3_fail_seen_s", context.wait_for_check("s3", "fail", timeout=15))
            arriving = in_parallel(
                [
                    lambda n=n: upload(context, tenant.key, course_id, f"new-{n}.txt", b"%d" % n + b"x" * 100_000)
                    for n in range(6)
                ],
                3,
            )
            in_flight = [future.result() for future in streaming]
        finally:
            restarting = time.monotonic()
            start()
    answers = in_flight + arriving
    # the streaming ones take as long as their client sends; the others must not hang
    _check_outage_answers(report, answers, allowed, timed=arriving)
    context.wait_for_check("s3", "ok", timeout=60)
    report.count("recovered_s", time.monotonic() - restarting)
    # the uploads cut by the stop could not abort their multipart uploads: the uploads
    # service's janitor does once S3 answers, retrying every second
    while leftovers(context, tenant.id).open_uploads and time.monotonic() - restarting < 15:
        time.sleep(0.2)
    report.count("uploads_aborted_s", time.monotonic() - restarting)
    again = upload(context, tenant.key, course_id, "after.txt", b"back again\n")
    report.count("after", again.status)
    report.check(again.status == 201, f"upload after S3 returned: {again.status}")
    found = leftovers(context, tenant.id)
    accepted = sum(1 for a in answers if a.status == 201) + (again.status == 201)
    report.check(found.rows == found.jobs == accepted, f"{found.rows} rows, {found.jobs} jobs for {accepted} uploads")
    count_leftovers(report, found)
    context.wait_healthy()


# ---- 8. a gunicorn worker SIGKILLed under load ---------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _serves(context: Context, port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code in (200, 503)
    except requests.RequestException:
        return False


def gunicorn_worker_killed(context: Context, report: Report) -> None:
    """One courses worker SIGKILLed under load: its master starts another; only requests that
    worker had in flight may fail."""
    tenant = context.tenant()
    course_id = tenant.course()
    master = context.stack.processes.pid("courses")
    before = _children(master)
    clients = 8

    def read(n: int) -> Answer:
        return call(context, "GET", f"/api/v1/courses/{course_id}", tenant.key, timeout=15)

    with load(context, read, clients=clients) as answers:
        time.sleep(1.0)
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: len(_children(master) - {victim}) == len(before), timeout=30, what="a new worker")
        report.count("replaced_s", time.monotonic() - killed)
        time.sleep(1.0)
    by_status = report.statuses("answers", answers)
    failed = sum(n for status, n in by_status.items() if status != 200)
    report.count("failed", failed)
    # each client has at most one request in flight, so no more than that can have failed
    report.check(failed <= clients, f"{failed} requests failed, more than the {clients} in flight")
    report.check(context.stack.processes.pid("courses") == master, "the courses master itself was restarted")
    report.check(len(_children(master)) == len(before) and victim not in _children(master), "worker not replaced")
    report.check(_serves(context, context.stack.ports.services["courses"]), "courses answers no more")
