"""The running test stack listens on the ports it declares, all outside the ephemeral range."""

from __future__ import annotations

from pathlib import Path

from devstack.ports import is_ephemeral, listening_ports


def process_groups() -> dict[int, int]:
    """pid -> process group of every process."""
    groups = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        groups[int(stat.parent.name)] = int(fields[2])
    return groups


def test_every_port_the_stack_listens_on_is_declared_and_outside_the_ephemeral_range(stack):
    leaders = {stack.processes.pid(name) for name in stack.processes.names()}
    postmaster = stack.postgres.postmaster_pid()
    groups = process_groups()
    leaders |= {groups[postmaster]}
    members = {pid for pid, group in groups.items() if group in leaders}
    ports = listening_ports(members)
    assert ports == set(stack.ports.listening().values())
    assert [port for port in ports if is_ephemeral(port)] == []
