"""``make bench-upload``: material uploads through the gateway against a direct boto3 upload.

Against the running local stack, for each size (100 MiB and 1 GiB by default): one upload
through the gateway (multipart/form-data, streamed from a generator: no file on disk, constant
client memory) while the uploads workers' resident memory is sampled from /proc every 20 ms,
then the same bytes uploaded straight to the same S3 endpoint with boto3 (its default managed
transfer) as the ceiling. Prints wall time, MiB/s, the ratio to the direct upload and the
peak RSS growth of the busiest uploads worker. Objects, rows and the tenant are removed after.

Then the direct path (presigned URLs): for each size, an upload started through the gateway,
its parts PUT straight to S3 (BENCH_DIRECT_THREADS in parallel, 4 by default, as a client
would), and completed through the gateway (which reads the object back to hash it), with the
uploads workers' memory sampled throughout; and BENCH_DIRECT_CONCURRENT (1,4,16) direct
uploads of 64 MiB at once, counting those that completed.

Every worker is warmed with a few 64 MiB uploads first, so the figures are per upload, not a
worker's one-time start-up. Settings: BENCH_UPLOAD_SIZES_MIB ("100,1024").
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from devstack.stack import REPO, read_env_file
from libs.platform.redis_client import create_redis
from libs.platform.settings import load_settings
from libs.platform.storage import create_storage
from libs.store import courses
from services.auth import tenants

ENV_FILE = REPO / ".data" / "local.env"
CHUNK = 1024 * 1024
WARM_UP_BYTES = 64 * CHUNK
PAGE = os.sysconf("SC_PAGE_SIZE")


def _worker_pids() -> list[int]:
    """The uploads service's gunicorn workers: children of the master in .data/run."""
    master = int((REPO / ".data" / "run" / "uploads.pid").read_text())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _rss(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


class RssSampler(threading.Thread):
    """Peak resident memory of each uploads worker while an upload runs."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.baseline = {pid: _rss(pid) for pid in pids}
        self.peak = dict(self.baseline)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for pid in self.peak:
                self.peak[pid] = max(self.peak[pid], _rss(pid))
            time.sleep(0.02)

    def stop(self) -> tuple[int, int]:
        """(baseline, peak) of the worker that grew most."""
        self._stop_event.set()
        self.join()
        pid = max(self.peak, key=lambda p: self.peak[p] - self.baseline[p])
        return self.baseline[pid], self.peak[pid]


def _content(size: int) -> Iterator[bytes]:
    """An MP4-looking stream of ``size`` bytes: a real 'ftyp' box, then incompressible data."""
    block = secrets.token_bytes(CHUNK)
    yield b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + block[24:]
    sent = CHUNK
    while sent < size:
        part = block if size - sent >= CHUNK else block[: size - sent]
        yield part
        sent += len(part)


def upload_through_gateway(port: int, key: str, course_id: str, size: int) -> tuple[float, dict]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="source_type"\r\n\r\nvideo\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _content(size)
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request(
        "POST",
        f"/api/v1/courses/{course_id}/materials",
        body=body(),
        headers={
            "X-API-Key": key,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        },
    )
    answer = connection.getresponse()
    payload = json.loads(answer.read())
    elapsed = time.perf_counter() - started
    if answer.status != 201:
        raise RuntimeError(f"upload answered {answer.status}: {payload}")
    return elapsed, payload


class _Stream:
    """A file-like view of a generator for boto3's upload_fileobj."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buffer = chunks, b""

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and (chunk := next(self._chunks, None)) is not None:
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def upload_direct(storage, size: int) -> float:
    key = f"bench/direct-{uuid.uuid4().hex}.mp4"
    started = time.perf_counter()
    storage.client.upload_fileobj(_Stream(_content(size)), storage.bucket, key)
    elapsed = time.perf_counter() - started
    storage.client.delete_object(Bucket=storage.bucket, Key=key)
    return elapsed


def _part(number: int, length: int) -> bytes:
    """Part ``number`` of the content _content makes (8 MiB parts are whole blocks)."""
    block = _BLOCK * (length // CHUNK + 1)
    data = block[:length]
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + data[24:] if number == 1 else data


_BLOCK = secrets.token_bytes(CHUNK)


def _api(port: int, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"X-API-Key": key, **({"Content-Type": "application/json"} if payload else {})}
    connection.request(method, path, body=payload, headers=headers)
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    return answer.status, json.loads(data) if data else {}


def upload_presigned(port: int, key: str, course_id: str, size: int, threads: int) -> tuple[float, float, dict]:
    """One direct upload: (seconds sending to S3, seconds completing, the material)."""
    status, upload = _api(
        port,
        "POST",
        f"/api/v1/courses/{course_id}/materials/uploads?allow_duplicate=true",
        key,
        {"filename": "bench.mp4", "source_type": "video", "size": size},
    )
    if status != 201:
        raise RuntimeError(f"starting a direct upload answered {status}: {upload}")
    started = time.perf_counter()
    if upload["method"] == "PUT":
        _put(upload["url"], _part(1, size))
        parts = None
    else:
        urls = list(upload["parts"])
        while upload.get("next_part"):
            _, upload = _api(port, "GET", f"{upload['parts_url']}?first={upload['next_part']}", key)
            urls += upload["parts"]
        with ThreadPoolExecutor(threads) as pool:
            etags = list(pool.map(lambda part: _put(part["url"], _part(part["part_number"], part["size"])), urls))
        parts = [{"part_number": part["part_number"], "etag": etag} for part, etag in zip(urls, etags, strict=True)]
    sent = time.perf_counter() - started
    started = time.perf_counter()
    status, material = _api(port, "POST", upload["complete_url"], key, {"parts": parts} if parts else None)
    if status != 201:
        raise RuntimeError(f"completing a direct upload answered {status}: {material}")
    return sent, time.perf_counter() - started, material


def _put(url: str, data: bytes) -> str:
    target = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
    connection.request("PUT", f"{target.path}?{target.query}", body=data, headers={"Content-Length": str(len(data))})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    if answer.status != 200:
        raise RuntimeError(f"PUT to S3 answered {answer.status}")
    return answer.getheader("ETag")


def direct_section(port: int, key: str, course_id: str, storage, sizes: list[int]) -> list[str]:
    """The direct path's lines: each size against boto3, then uploads at once."""
    threads = int(os.environ.get("BENCH_DIRECT_THREADS", "4"))
    lines = [
        f"direct (presigned URLs, {threads} parts in flight)",
        f"{'size':>8}  {'to S3 s':>7} {'MiB/s':>7}  {'complete s':>10}  {'boto3 s':>7}  {'ratio':>5}  "
        f"{'uploads RSS before':>18} {'peak':>6} {'growth':>6}",
    ]
    mib = 1024 * 1024
    for size in sizes:
        sampler = RssSampler(_worker_pids())
        sampler.start()
        sent, completed, material = upload_presigned(port, key, course_id, size, threads)
        baseline, peak = sampler.stop()
        if material["size_bytes"] != size:
            raise RuntimeError(f"stored {material['size_bytes']} bytes, sent {size}")
        boto3_seconds = upload_direct(storage, size)
        lines.append(
            f"{size // mib:>5}MiB  {sent:>7.2f} {size / mib / sent:>7.1f}  {completed:>10.2f}  {boto3_seconds:>7.2f}  "
            f"{boto3_seconds / sent:>5.2f}  {baseline / mib:>15.1f}MiB {peak / mib:>6.1f} "
            f"{(peak - baseline) / mib:>6.1f}"
        )
    lines.append(f"{'at once':>8}  {'done':>5}  {'wall s':>6}  {'MiB/s in all':>12}")
    for count in [int(n) for n in os.environ.get("BENCH_DIRECT_CONCURRENT", "1,4,16").split(",")]:
        started = time.perf_counter()
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(upload_presigned, port, key, course_id, 64 * mib, 1) for _ in range(count)]
            done = sum(1 for future in futures if future.exception() is None)
        wall = time.perf_counter() - started
        lines.append(f"{count:>8}  {done:>5}  {wall:>6.1f}  {done * 64 / wall:>12.1f}")
    return lines


def main() -> int:
    env = read_env_file(ENV_FILE)
    settings = load_settings(env)
    storage = create_storage(settings)
    port = int(env["GATEWAY_PORT"])
    sizes = [int(s) * CHUNK for s in os.environ.get("BENCH_UPLOAD_SIZES_MIB", "100,1024").split(",")]
    name = f"bench-upload-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        tenants.create_tenant(conn, name)
        key = tenants.create_key(
            conn, tenant=name, scopes=("prep",), label="bench", rate_prep=1000, rate_check=1000, expires_in_days=None
        ).secret
        tenant_id = conn.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()[0]
        course_id = courses.create(conn, str(tenant_id), {"title": "bench"})["id"]
        rows = []
        try:
            # Warm every worker first (each takes some uploads): a worker's first uploads also
            # pay one-time costs (boto3's client and thread pool, imports, malloc arenas
            # growing to a full pipeline of parts) that are not the per-upload memory this
            # measures. 64 MiB is eight parts: three in flight and one filling, as in a big file
            # (20 MiB warm-ups left a fresh single-process service 36-44 MiB to grow).
            for _ in range(4 * len(_worker_pids())):
                upload_through_gateway(port, key, str(course_id), WARM_UP_BYTES)
            for size in sizes:
                sampler = RssSampler(_worker_pids())
                sampler.start()
                gateway_seconds, material = upload_through_gateway(port, key, str(course_id), size)
                baseline, peak = sampler.stop()
                if material["size_bytes"] != size:
                    raise RuntimeError(f"stored {material['size_bytes']} bytes, sent {size}")
                direct_seconds = upload_direct(storage, size)
                rows.append((size, gateway_seconds, direct_seconds, baseline, peak))
            direct_lines = direct_section(port, key, str(course_id), storage, sizes)
        finally:
            # through the API, as a client would: rows, then the stored files
            gone = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            gone.request("DELETE", f"/api/v1/courses/{course_id}", headers={"X-API-Key": key})
            gone.getresponse().read()
            gone.close()
            tenants.deactivate_tenant(conn, create_redis(settings.redis_url), name)
    mib = 1024 * 1024
    print(
        f"{'size':>8}  {'gateway s':>9} {'MiB/s':>7}  {'direct s':>8} {'MiB/s':>7}  {'ratio':>5}  "
        f"{'worker RSS before':>17} {'peak':>6} {'growth':>6}"
    )
    for size, gateway_s, direct_s, baseline, peak in rows:
        print(
            f"{size // mib:>5}MiB  {gateway_s:>9.2f} {size / mib / gateway_s:>7.1f}  {direct_s:>8.2f} "
            f"{size / mib / direct_s:>7.1f}  {direct_s / gateway_s:>5.2f}  {baseline / mib:>14.1f}MiB "
            f"{peak / mib:>6.1f} {(peak - baseline) / mib:>6.1f}"
        )
    peaks = [peak / mib for *_, peak in rows]
    growths = [(peak - baseline) / mib for *_, baseline, peak in rows]
    print(f"largest growth: {max(growths):.1f} MiB; peaks differ by {max(peaks) - min(peaks):.1f} MiB across sizes")
    print()
    print("\n".join(direct_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
