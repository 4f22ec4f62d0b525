"""The Docker engine and the tools ``make test-deploy`` needs, installed and started when missing,
and stopped afterwards when this run started them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Debian's packages: the engine (docker.io), debootstrap for `make images-local`'s base, wrk
# for the measured reads, openssl for the host site's password file.
PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap", "wrk": "wrk", "openssl": "openssl"}
# Where overlayfs is missing (a container, as here) the engine needs vfs; override to taste.
STORAGE_DRIVER = os.environ.get("DOCKERD_STORAGE_DRIVER", "vfs")


def quiet(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0


@dataclass
class Engine:
    log: Path
    started: subprocess.Popen | None = None
    notes: list[str] = field(default_factory=list)

    def prepare(self, repo: Path) -> None:
        missing = sorted({package for tool, package in PACKAGES.items() if shutil.which(tool) is None})
        if missing:
            self.notes.append(f"apt-get install {' '.join(missing)}")
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
        if not quiet(["docker", "compose", "version"]) or not quiet(["docker", "buildx", "version"]):
            self.notes.append("compose v2 and buildx from deploy/docker_plugins.sh")
            subprocess.run(["bash", str(repo / "deploy" / "docker_plugins.sh")], check=True)
        if not quiet(["docker", "info"]):
            self.start()

    def start(self) -> None:
        self.notes.append(f"started dockerd --storage-driver={STORAGE_DRIVER}")
        with open(self.log, "ab") as log:
            self.started = subprocess.Popen(
                ["dockerd", f"--storage-driver={STORAGE_DRIVER}"], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not quiet(["docker", "info"]):
            if self.started.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; its log: {self.log}")
            time.sleep(1)

    def stop(self) -> None:
        """Stop the engine if this run started it (what it built stays in its image store)."""
        if self.started is None:
            return
        self.started.terminate()
        try:
            self.started.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.started.kill()
