"""gunicorn settings every service shares: ``gunicorn -c python:libs.platform.gunicorn_config …``.

gthread workers keep client and nginx keepalive connections open (sync workers close every
one) and let a slow upload hold one thread rather than a whole process.
"""

import contextlib
import ctypes
import gc
import json
import os
import re
import socket
import sys
from pathlib import Path

import gunicorn.util

worker_class = "gthread"

# Sized per service, on what each does (WEB_WORKERS / WEB_THREADS override them all):
# - courses carries the read traffic, which is CPU-bound Python: the GIL lets one thread of a
#   process run at a time, so processes carry it (measured with make bench on 2 cores: 4
#   processes x 2 threads served the course read about 20 % faster than 2 x 4);
# - auth answers the public /health (probes cached per process; measured with make bench, one
#   process gave about 2,050 req/s, two 3,000+) beside the key-introspection routes: two;
# - uploads and the agent's API mostly wait — on a client's socket and S3, on the queue or a
#   model — so they take threads, which cost a few hundred KiB each, not processes (~15 MiB
#   of private memory each, measured with make bench). An upload holds up to ~32 MiB of part
#   buffers (8 MiB parts, three in flight and one filling) while it runs, so 16 upload
#   threads are at most 512 MiB of buffers at once.
_CORES = os.cpu_count() or 1
WORKERS_BY_SERVICE = {"courses": 2 * _CORES, "auth": 2, "uploads": 1, "agent": 1}
THREADS_BY_SERVICE = {"courses": 2, "auth": 2, "uploads": 16, "agent": 32}


def service_name(argv: list[str]) -> str | None:
    """The service gunicorn was asked to serve, from its app argument
    (``services.uploads.wsgi:app`` → ``uploads``), so no service needs its own flags."""
    for arg in argv:
        match = re.fullmatch(r"services\.(\w+)\.wsgi(:\w+)?", arg)
        if match:
            return match.group(1)
    return None


_SERVICE = service_name(sys.argv) or ""
workers = int(os.environ.get("WEB_WORKERS") or WORKERS_BY_SERVICE.get(_SERVICE, 2))
threads = int(os.environ.get("WEB_THREADS") or THREADS_BY_SERVICE.get(_SERVICE, 2))

# Import the app once, in the master: the interpreter, the libraries and the code are then
# pages every worker shares instead of a private copy each (about 45 MiB per worker).
# libs.platform.runtime.ServiceApp opens each worker's connections after the fork (post_worker_init).
preload_app = True


def when_ready(server: object) -> None:
    # Everything imported so far lives as long as the process: move it out of the garbage
    # collector's reach, so a collection in a worker does not write to (and so copy) the
    # pages shared with the master.
    gc.collect()
    gc.freeze()


def post_worker_init(worker: object) -> None:
    start = getattr(getattr(worker, "wsgi", None), "start", None)
    if start is not None:
        start(threads)  # this worker's pool (a connection per thread at most), Redis client and app


keepalive = 75  # longer than nginx's upstream keepalive, so nginx closes first
timeout = 120
graceful_timeout = 25

# Request size limits just above the gateway's (large_client_header_buffers 4 7k in
# gateway/templates/gateway.conf.template), so nginx, which answers in JSON, refuses first
# and everything it passes on fits here. The request line: nginx's 7 KiB, gunicorn's maximum
# of 8190. One header line: nginx's 7 KiB plus room for what nginx appends (X-Forwarded-For).
# The header count: nginx holds at most 1 KiB + 4 x 7 KiB of headers, and "a:\r\n" (4 bytes)
# is the shortest line, so at most ~7400 of them, plus the few nginx adds.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 8192
# Several gunicorn masters share a home directory; their control sockets would collide.
control_socket_disable = True
# Heartbeat files on tmpfs, so a slow disk never looks like a hung worker.
if Path("/dev/shm").is_dir():  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# Every thread that allocates gets its own glibc malloc arena by default (up to 8 per core),
# and memory freed in one arena serves no other: with request threads and upload-part threads
# a worker's RSS creeps up part after part. Two arenas keep it flat. Set in the master;
# workers inherit it through fork.
_M_ARENA_MAX = -8
with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
    ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)


# gunicorn answers what it cannot parse itself, with an HTML page that echoes the offending
# input, and it has no setting for that body. The gateway refuses such requests first; this
# keeps the API's JSON errors (title and description, no request text) for whatever reaches
# gunicorn anyway (a direct call, or a limit nginx and gunicorn disagree on).
_DESCRIPTIONS = {
    400: "The request could not be parsed.",
    403: "The request was refused.",
    414: "The request line is too long.",
    417: "The Expect header is not supported.",
    431: "The request headers are too large.",
    501: "The server does not implement what the request needs.",
}


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps(
        {"title": reason, "description": _DESCRIPTIONS.get(status_int, "The server failed to handle this request.")}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn.util.write_error = write_json_error
