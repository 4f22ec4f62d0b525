"""Run by the docker-compose 1.29 virtualenv's Python (tests/deploy/tools.py), not by pytest:
builds the project as `docker-compose up` would, without an engine.

    python compose_check.py FILE PROJECT_DIR [PROFILE ...]

`docker-compose config` checks a file's schema and its volumes and services, but services'
networks and what profiles pull in are checked only when the project is built for a command
that talks to the engine. This builds it against a stand-in engine on which nothing exists yet,
as on a fresh host, and asks for what `up` would start. Exit 1 with compose's own message.
"""

import sys

import docker.errors
from compose.config import config
from compose.config.environment import Environment
from compose.config.errors import ConfigurationError
from compose.project import Project


class FreshEngine:
    """Every lookup answers "not found": no network or volume exists yet."""

    def __getattr__(self, name):
        def lookup(*args, **kwargs):
            raise docker.errors.NotFound(f"{name}: nothing exists on a fresh engine")

        return lookup


def main(file, directory, profiles):
    environment = Environment.from_env_file(directory)
    try:
        details = config.find(directory, [file], environment, override_dir=directory)
        project = Project.from_config(
            "compose-check", config.load(details, profiles), FreshEngine(), enabled_profiles=profiles
        )
        started = project.get_services(None, include_deps=True)
    except ConfigurationError as exc:
        print(exc.msg, file=sys.stderr)
        return 1
    print("up starts:", " ".join(service.name for service in started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
