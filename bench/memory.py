"""Proportional set size (PSS) of the local stack's Python processes, per service.

PSS divides each shared page among the processes that map it, so the figures of gunicorn's
master and its forked workers add up to what the service really costs, shared imports once."""

from __future__ import annotations

from pathlib import Path

from libs.platform.settings import SERVICES

WORKER = "agent-worker"
PYTHON_PROCESSES = (*SERVICES, WORKER)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in _children(pid):
        pids += _tree(child)
    return pids


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_by_process_group(run_dir: Path) -> dict[str, tuple[float, int]]:
    """``{name: (MiB, processes)}`` for every service's gunicorn (master and workers) and the
    job worker, found through the pid files devstack keeps in ``run_dir``."""
    figures: dict[str, tuple[float, int]] = {}
    for name in PYTHON_PROCESSES:
        pid_file = run_dir / f"{name}.pid"
        if not pid_file.exists():
            continue
        pids = _tree(int(pid_file.read_text().strip()))
        figures[name] = (sum(_pss_kib(pid) for pid in pids) / 1024, len(pids))
    return figures
