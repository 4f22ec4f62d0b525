"""Which ports the stack listens on, kept outside the kernel's ephemeral range and checked free."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libs.platform.settings import SERVICE_PORTS, SERVICES

# Linux's default net.ipv4.ip_local_port_range, for machines where /proc cannot tell.
DEFAULT_EPHEMERAL = (32768, 60999)
# Free ports for test stacks come from here: below the ephemeral range, so an outgoing
# connection's TIME_WAIT never holds one, and above the well-known services.
FREE_RANGE = (20000, 32767)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (inclusive)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL


def is_ephemeral(port: int) -> bool:
    low, high = ephemeral_range()
    return low <= port <= high


def grpc_port(port: int) -> int:
    """SeaweedFS' gRPC port for a server on ``port``; SeaweedFS' own rule, port + 10000,
    would land 2xxxx ports inside the ephemeral range, so go 10000 down instead."""
    return port - 10000 if port - 10000 >= 1024 else port + 10000


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind ``port`` now. SO_REUSEADDR as every server of the stack
    sets it: a TIME_WAIT left by a server's own connections does not count, while a
    listener or an outgoing connection's socket (established or in TIME_WAIT) does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(avoid: Iterable[int] = ()) -> int:
    """A port below the ephemeral range that nothing holds now; the start is random so
    concurrent test sessions rarely try the same ports."""
    low, high = FREE_RANGE
    avoided = set(avoid)
    start = random.randint(low, high)  # noqa: S311 - spreading, not security
    for offset in range(high - low + 1):
        port = low + (start - low + offset) % (high - low + 1)
        if port not in avoided and port_free(port):
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


class PortTaken(RuntimeError):
    """A port the stack needs is held by another process."""


def check_free(ports: Mapping[str, int]) -> None:
    """Raise ``PortTaken`` naming every component whose port is taken."""
    taken = [f"port {port} ({name}) is taken by {_holder(port)}" for name, port in ports.items() if not port_free(port)]
    if taken:
        raise PortTaken("; ".join(taken))


def tcp_sockets() -> list[tuple[int, str, str]]:
    """``(local port, state, inode)`` of every TCP socket, from /proc/net/tcp{,6}; state
    is the kernel's hex code ("0A" LISTEN, "06" TIME_WAIT)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                found.append((int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]))
    return found


def socket_owners(inodes: set[str]) -> dict[str, int]:
    """Which process holds each socket inode (those /proc lets us see)."""
    owners = {}
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    owners[target[8:-1]] = int(fd_dir.parent.name)
    return owners


def listening_ports(pids: set[int]) -> set[int]:
    """The TCP ports these processes listen on."""
    listeners = {inode: port for port, state, inode in tcp_sockets() if state == "0A"}
    owners = socket_owners(set(listeners))
    return {listeners[inode] for inode, pid in owners.items() if pid in pids}


def _holder(port: int) -> str:
    """Who holds ``port``, as far as /proc tells: a listener's program, or connections."""
    here = [(state, inode) for local, state, inode in tcp_sockets() if local == port]
    listeners = {inode for state, inode in here if state == "0A"}
    for pid in socket_owners(listeners).values():
        with contextlib.suppress(OSError):
            return f"another process ({Path(f'/proc/{pid}/comm').read_text().strip()}, pid {pid})"
    if here and all(state == "06" for state, _ in here):
        return f"{len(here)} connection(s) in TIME_WAIT"
    return "another process"


@dataclass
class Ports:
    """Every port of one stack. The defaults (``make up``) lie below Linux's ephemeral
    range (32768-60999): a recent outgoing connection's TIME_WAIT can hold a port inside it."""

    postgres: int = 25432
    redis: int = 26379
    s3: int = 28333
    # SeaweedFS' internal servers; every one is set so nothing lands on a default port.
    # The volume server is not 28080: its gRPC twin would be 18080, a common alt-HTTP port.
    seaweed_master: int = 29333
    seaweed_volume: int = 28180
    seaweed_filer: int = 28888
    gateway: int = SERVICE_PORTS["gateway"]
    services: dict[str, int] = field(default_factory=lambda: {name: SERVICE_PORTS[name] for name in SERVICES})

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing holds now, none of them (gRPC ones included) ephemeral or one of
        ``make up``'s, so a test stack can run beside the local one."""
        taken = set(cls().listening().values())

        def pick(*, with_grpc: bool = False) -> int:
            while True:
                port = free_port(taken)
                if not with_grpc or (grpc_port(port) not in taken and port_free(grpc_port(port))):
                    break
                taken.add(port)  # its gRPC twin is held: skip it for good
            taken.update({port, grpc_port(port)} if with_grpc else {port})
            return port

        return cls(
            postgres=pick(),
            redis=pick(),
            s3=pick(with_grpc=True),
            seaweed_master=pick(with_grpc=True),
            seaweed_volume=pick(with_grpc=True),
            seaweed_filer=pick(with_grpc=True),
            gateway=pick(),
            services={name: pick() for name in SERVICES},
        )

    def seaweed(self) -> dict[str, int]:
        """SeaweedFS' servers by name (each also listens on its ``grpc_port``)."""
        return {
            "S3": self.s3,
            "master": self.seaweed_master,
            "volume": self.seaweed_volume,
            "filer": self.seaweed_filer,
        }

    def listening(self) -> dict[str, int]:
        """Every port the stack listens on, by the component that does."""
        seaweed = {}
        for name, port in self.seaweed().items():
            seaweed[f"SeaweedFS {name}"] = port
            seaweed[f"SeaweedFS {name} gRPC"] = grpc_port(port)
        return {
            "PostgreSQL": self.postgres,
            "Redis": self.redis,
            **seaweed,
            "gateway": self.gateway,
            **{f"{name} service": port for name, port in self.services.items()},
        }
