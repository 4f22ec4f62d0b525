"""gunicorn settings every service shares: ``gunicorn -c python:libs.gunicorn_config …``.

gthread workers keep client and nginx keepalive connections open (sync workers close every
one) and let a slow upload hold one thread rather than a whole process.
"""

import os
from pathlib import Path

worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 75  # longer than nginx's upstream keepalive, so nginx closes first
timeout = 120
graceful_timeout = 25
# Several gunicorn masters share a home directory; their control sockets would collide.
control_socket_disable = True
# Heartbeat files on tmpfs, so a slow disk never looks like a hung worker.
if Path("/dev/shm").is_dir():  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108
