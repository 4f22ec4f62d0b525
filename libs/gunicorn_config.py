"""gunicorn settings every service shares: ``gunicorn -c python:libs.gunicorn_config …``.

gthread workers keep client and nginx keepalive connections open (sync workers close every
one) and let a slow upload hold one thread rather than a whole process.
"""

import contextlib
import ctypes
import os
from pathlib import Path

worker_class = "gthread"
# Processes rather than threads carry the load: the GIL lets one thread of a process run
# Python at a time. Measured with make bench on 2 cores: 4 workers x 2 threads served the
# course read about 20% faster than 2 x 4.
workers = int(os.environ.get("WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
threads = int(os.environ.get("WEB_THREADS", "2"))
keepalive = 75  # longer than nginx's upstream keepalive, so nginx closes first
timeout = 120
graceful_timeout = 25
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
