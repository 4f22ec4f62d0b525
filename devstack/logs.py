"""``make logs [SERVICE=…]`` for the local stack: follow its log files with ``tail -F``.

Every process the stack starts writes ``<root>/logs/<name>.log`` (devstack/processes.py);
PostgreSQL, started by pg_ctl, writes ``<root>/postgres/server.log``. SERVICE is a process
name (auth, uploads, courses, agent, agent-worker, redis, seaweedfs, nginx) or one of the
names the production stack uses for the same part (gateway, postgres-cs, agent-api, s3), so one habit
serves both stacks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# compose service names → the local stack's log names
ALIASES = {"gateway": "nginx", "postgres-cs": "postgres", "s3": "seaweedfs", "agent-api": "agent"}


def log_files(root: Path, service: str | None = None) -> list[Path]:
    """The log files of ``service`` (every log when None) under the stack root ``root``;
    ``LookupError`` naming the known services when there is none."""
    logs = {path.stem: [path] for path in sorted((root / "logs").glob("*.log"))}
    server_log = root / "postgres" / "server.log"
    if server_log.exists():
        logs["postgres"] = [server_log]
    # nginx keeps its access and error logs beside its own output
    logs["nginx"] = [path for name, paths in logs.items() if name.startswith("nginx") for path in paths]
    if not logs["nginx"]:
        del logs["nginx"]
    if service is None:
        return sorted({path for paths in logs.values() for path in paths})
    name = ALIASES.get(service, service)
    if name not in logs:
        known = ", ".join(sorted(name for name in logs if not name.startswith("nginx-"))) or "none yet: run make up"
        raise LookupError(f"no log for {service!r}; services with logs: {known}")
    return logs[name]


def main(argv: list[str]) -> int:
    root = Path(os.environ.get("STACK_ROOT", ".data"))
    service = argv[0] if argv and argv[0] else None
    try:
        files = log_files(root, service)
    except LookupError as exc:
        print(f"make logs: {exc}", file=sys.stderr)
        return 1
    if not files:
        print(f"make logs: no logs under {root}: run make up first", file=sys.stderr)
        return 1
    # -F follows a file that is recreated (make down / make up)
    os.execvp("tail", ["tail", "-n", "50", "-F", *map(str, files)])  # noqa: S606
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
