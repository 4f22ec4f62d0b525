"""docker-compose.prod.yaml in the dialect `docker stack deploy` reads: Compose file format 3,
which predates parts of the compose specification this stack uses on one host.

    docker compose -f docker-compose.prod.yaml config --format json \\
      | python3 deploy/swarm_stack.py | docker stack deploy -c - course-supporter

`docker compose config` first interpolates ${IMAGE_NAME}/${IMAGE_TAG} from .env, merges the x-
blocks and leaves out the `tools` profile (migrate); this then, with the standard library only:
- turns each depends_on mapping (conditions) into a list: a Swarm starts tasks in any order and
  restarts them until their dependencies answer;
- drops mem_limit (deploy.resources.limits.memory carries the same figure), profiles, the
  top-level name, and any other key format 3 does not know (the Swarm would refuse the file);
- sets version 3.9, the format every Swarm since Docker 19.03 reads.
"""

from __future__ import annotations

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


def to_stack(config: dict[str, Any]) -> dict[str, Any]:
    """The stack file for ``config``, a compose file as `docker compose config` prints it."""
    services = {}
    for name, service in config.get("services", {}).items():
        if service.get("profiles"):
            continue  # one-shot tools (migrate): run with docker compose, not deployed
        converted = {key: value for key, value in service.items() if key in SERVICE_KEYS}
        if isinstance(converted.get("depends_on"), dict):
            converted["depends_on"] = sorted(converted["depends_on"])
        services[name] = converted
    stack: dict[str, Any] = {"version": VERSION}
    stack.update({key: config[key] for key in TOP_LEVEL_KEYS if key in config})
    stack["services"] = services
    return stack


def main() -> int:
    try:
        config = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(
            f"swarm_stack.py: standard input is not JSON ({exc}); pipe `docker compose config --format json`",
            file=sys.stderr,
        )
        return 2
    json.dump(to_stack(config), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
