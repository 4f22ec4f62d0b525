"""``make test-reliability``: every reliability scenario against the local stack that ``make up``
started (settings from ``.data/local.env``), one after another, one summary line each; the
exit status is 1 when any scenario failed. ``python -m tests.reliability NAME …`` runs some."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devstack.stack import REPO, Stack, read_env_file
from tests.reliability.harness import Context
from tests.reliability.scenarios import SCENARIOS, run_scenario


def main(argv: list[str]) -> int:
    root = REPO / ".data"
    env_file = root / "local.env"
    if not env_file.exists():
        print("no local stack: run make up first", file=sys.stderr)
        return 2
    chosen = [s for s in SCENARIOS if not argv or s.name in argv]
    if unknown := set(argv) - {s.name for s in SCENARIOS}:
        print(f"unknown scenarios {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}", file=sys.stderr)
        return 2
    context = Context(Stack(Path(root), read_env_file(env_file), persistent=True))
    if context.health()[0] != 200:
        print("the local stack is not healthy (GET /health is not 200): run make up first", file=sys.stderr)
        return 2
    started = time.monotonic()
    failed = []
    for scenario in chosen:
        report = run_scenario(scenario, context)
        print(report.line(), flush=True)
        if not report.passed:
            failed.append(scenario.name)
    verdict = f"{len(chosen) - len(failed)} of {len(chosen)} scenarios passed in {time.monotonic() - started:.0f} s"
    print(verdict + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
