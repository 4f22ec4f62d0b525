"""docker-compose.prod.yaml in the dialect `docker stack deploy` reads: Compose file format 3,
which predates parts of the compose specification this stack uses on one host.

    docker compose -f docker-compose.prod.yaml config --format json \\
      | python3 deploy/swarm_stack.py | docker stack deploy -c - course-supporter

`docker compose config` first interpolates ${IMAGE_NAME}/${IMAGE_TAG} from .env, merges the x-
blocks and leaves out the `tools` profile (migrate); this then, with the standard library only:
- turns each depends_on mapping (conditions) into a list: a Swarm starts tasks in any order and
  restarts them until their dependencies answer;
- drops mem_limit (deploy.resources.limits.memory carries the same figure), profiles, the
  top-level name, any other key format 3 does not know, and the keys compose prints as null
  (the Swarm would refuse the file);
- sets version 3.9, the format every Swarm since Docker 19.03 reads.

`--replicas N` runs N tasks of every stateless service (those updated start-first); the
stateful ones (PostgreSQL, Redis, Netdata: one volume each) stay at one.

`--endpoint-mode dnsrr` gives every service DNS round robin instead of a virtual IP: a
service's name then resolves to its tasks' own addresses. The virtual IP needs the kernel's
IPVS (`ip_vs`), which some hosts and containers lack ("Could not get ipvs family information"
in dockerd's log, and every connection to a service name fails). The gateway resolves the
services' names when it loads its configuration, so under dnsrr it must be reloaded after
their tasks change, as on one host with compose.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

VERSION = "3.9"
# The service keys of Compose file format 3.9 (what `docker stack deploy` validates against).
SERVICE_KEYS = frozenset(
    [
        "build",
        "cap_add",
        "cap_drop",
        "cgroup_parent",
        "command",
        "configs",
        "container_name",
        "credential_spec",
        "depends_on",
        "deploy",
        "devices",
        "dns",
        "dns_search",
        "domainname",
        "entrypoint",
        "env_file",
        "environment",
        "expose",
        "external_links",
        "extra_hosts",
        "healthcheck",
        "hostname",
        "image",
        "init",
        "ipc",
        "isolation",
        "labels",
        "links",
        "logging",
        "mac_address",
        "network_mode",
        "networks",
        "pid",
        "ports",
        "privileged",
        "read_only",
        "restart",
        "secrets",
        "security_opt",
        "shm_size",
        "stdin_open",
        "stop_grace_period",
        "stop_signal",
        "sysctls",
        "tmpfs",
        "tty",
        "ulimits",
        "user",
        "userns_mode",
        "volumes",
        "working_dir",
    ]
)
TOP_LEVEL_KEYS = ("services", "networks", "volumes", "configs", "secrets")


def to_stack(config: dict[str, Any], replicas: int | None = None, endpoint_mode: str | None = None) -> dict[str, Any]:
    """The stack file for ``config``, a compose file as `docker compose config` prints it, with
    ``replicas`` tasks of each stateless service and ``endpoint_mode`` for every service when
    given."""
    services = {}
    for name, service in config.get("services", {}).items():
        if service.get("profiles"):
            continue  # one-shot tools (migrate): run with docker compose, not deployed
        # compose v2 prints unset keys as null (command, entrypoint), which format 3 refuses
        converted = {key: value for key, value in service.items() if key in SERVICE_KEYS and value is not None}
        if isinstance(converted.get("depends_on"), dict):
            converted["depends_on"] = sorted(converted["depends_on"])
        deploy = dict(converted.get("deploy", {}))
        if replicas is not None and deploy.get("update_config", {}).get("order") == "start-first":
            deploy["replicas"] = replicas
        if endpoint_mode is not None:
            deploy["endpoint_mode"] = endpoint_mode
        if deploy:
            converted["deploy"] = deploy
        services[name] = converted
    stack: dict[str, Any] = {"version": VERSION}
    stack.update({key: config[key] for key in TOP_LEVEL_KEYS if key in config})
    stack["services"] = services
    return stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="docker compose config --format json on stdin -> a stack file")
    parser.add_argument("--replicas", type=int, help="tasks of every stateless service (default: the file's)")
    parser.add_argument(
        "--endpoint-mode", choices=["vip", "dnsrr"], help="how services are reached (default vip; dnsrr without IPVS)"
    )
    args = parser.parse_args(argv)
    if args.replicas is not None and args.replicas < 1:
        parser.error("--replicas must be at least 1")
    try:
        config = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(
            f"swarm_stack.py: standard input is not JSON ({exc}); pipe `docker compose config --format json`",
            file=sys.stderr,
        )
        return 2
    json.dump(to_stack(config, args.replicas, args.endpoint_mode), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
