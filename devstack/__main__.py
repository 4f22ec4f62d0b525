"""``python -m devstack up|down|status`` — the local stack behind ``make up`` / ``make down``."""

from __future__ import annotations

import argparse
import os
import sys

from devstack.stack import (
    REPO,
    Ports,
    PortTaken,
    Stack,
    default_environment,
    move_out_of_ephemeral,
    read_env_file,
    write_env_file,
)
from libs.platform.settings import passed_overrides

DATA = REPO / ".data"
ENV_FILE = DATA / "local.env"


def local_stack() -> Stack:
    """The stack of ``.data/``; its settings are made once and kept beside the data, so
    passwords stay valid across ``make down`` / ``make up``."""
    DATA.mkdir(exist_ok=True)
    ports = Ports()
    if os.environ.get("GATEWAY_PORT"):
        ports.gateway = int(os.environ["GATEWAY_PORT"])
    defaults = default_environment(ports)
    kept = read_env_file(ENV_FILE) if ENV_FILE.exists() else {}
    # Settings a newer version added (a new service's port, say) join the kept ones; kept
    # values, passwords above all, never change, except ports kept from before they left
    # the ephemeral range: those move to the new defaults (a port is no secret).
    env = {**defaults, **kept}
    env, moved = move_out_of_ephemeral(env, ports)
    if moved:
        print(f"{ENV_FILE}: moved ports out of the ephemeral range: {', '.join(moved)}", file=sys.stderr)
    if env != kept:
        write_env_file(ENV_FILE, env)
    if os.environ.get("GATEWAY_PORT"):  # an override at `make up` time wins
        env["GATEWAY_PORT"] = os.environ["GATEWAY_PORT"]
    # LLM keys and URLs given to `make up` win too, after the file is written: a secret typed
    # for one run is not kept on disk.
    env.update(passed_overrides(os.environ))
    return Stack(DATA, env)


def main() -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    stack = local_stack()
    if command == "up":
        try:
            stack.up()
        except PortTaken as exc:  # nothing was started: say which port, and stop there
            print(f"make up failed: {exc}", file=sys.stderr)
            return 1
        except RuntimeError as exc:
            print(f"make up failed: {exc}\nlogs: {stack.root / 'logs'}", file=sys.stderr)
            stack.down()  # leave nothing half-started behind
            return 1
        print(f"Course Supporter is up: {stack.gateway_url}  (health: {stack.gateway_url}/health)")
        print(f"settings: {ENV_FILE}; logs: {stack.root / 'logs'}; stop with `make down`")
    elif command == "down":
        stack.down()
        print("stopped the local stack (data kept in .data/)")
    else:
        code, body = stack.health()
        running = ", ".join(stack.processes.names()) or "none"
        print(f"processes: {running}\nGET /health: {code or 'unreachable'} {body.get('checks', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
