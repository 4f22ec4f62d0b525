"""The stack's ports lie outside the kernel's ephemeral range, and a taken one is named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devstack.ports import FREE_RANGE, Ports, PortTaken, check_free, free_port, port_free
from devstack.stack import Stack, default_environment, move_out_of_ephemeral


def kernel_ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_every_default_port_lies_outside_the_ephemeral_range():
    ports = Ports().listening()
    inside = {name: port for name, port in ports.items() if port in kernel_ephemeral_range()}
    assert inside == {}
    assert len(set(ports.values())) == len(ports), "two components share a port"


def test_free_ports_lie_outside_the_ephemeral_range_are_distinct_and_free():
    defaults = set(Ports().listening().values())
    for _ in range(5):
        ports = Ports.free().listening()
        assert [p for p in ports.values() if p in kernel_ephemeral_range()] == []
        assert len(set(ports.values())) == len(ports), ports
        assert not set(ports.values()) & defaults, "a test stack must not take a port of `make up`"
        assert all(port_free(port) for port in ports.values())


def test_free_port_is_below_the_ephemeral_range():
    for _ in range(20):
        port = free_port()
        assert FREE_RANGE[0] <= port <= FREE_RANGE[1]
        assert port not in kernel_ephemeral_range()


@pytest.fixture
def server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()
        yield sock


@pytest.fixture
def listener(server):
    return server.getsockname()[1]


def test_a_taken_port_is_reported_with_its_component(listener):
    with pytest.raises(PortTaken) as caught:
        check_free({"Redis": free_port(), "SeaweedFS filer": listener})
    message = str(caught.value)
    assert message.startswith(f"port {listener} (SeaweedFS filer) is taken by another process (python")
    assert "Redis" not in message
    assert "\n" not in message


def test_the_stack_checks_every_port_before_starting(tmp_path, listener):
    ports = Ports.free()
    ports.services["courses"] = listener
    stack = Stack(tmp_path, default_environment(ports, environment="test"))
    with pytest.raises(PortTaken, match=rf"^port {listener} \(courses service\) is taken"):
        stack.up()
    assert stack.processes.names() == []  # nothing was started


def test_an_outgoing_connections_time_wait_counts_as_taken(server, listener):
    """The failure behind the issue: a client socket's TIME_WAIT holds its local port."""
    client_port = free_port()
    with socket.socket() as client:
        client.bind(("127.0.0.1", client_port))
        client.connect(("127.0.0.1", listener))
        accepted, _ = server.accept()
    accepted.close()  # the client closed first, so its end now waits in TIME_WAIT
    with pytest.raises(PortTaken, match=rf"^port {client_port} \(SeaweedFS volume gRPC\) is taken by 1 connection"):
        check_free({"SeaweedFS volume gRPC": client_port})


def test_kept_settings_with_ephemeral_ports_move_to_the_defaults_and_keep_their_passwords():
    old = default_environment(Ports(55432, 56379, 58333, 59333, 58080, 58888))
    old["POSTGRES_PASSWORD"] = "kept-password"
    env, moved = move_out_of_ephemeral(old, Ports())
    assert env["POSTGRES_PASSWORD"] == "kept-password"
    assert env["S3_SECRET_KEY"] == old["S3_SECRET_KEY"]
    new = Ports()
    assert env["POSTGRES_PORT"] == str(new.postgres)
    assert env["REDIS_URL"] == f"redis://127.0.0.1:{new.redis}/0"
    assert env["S3_ENDPOINT"] == f"http://127.0.0.1:{new.s3}"
    assert env["SEAWEED_FILER_PORT"] == str(new.seaweed_filer)
    assert env["GATEWAY_PORT"] == old["GATEWAY_PORT"]  # 8080 was never ephemeral
    assert len(moved) == 6
    assert move_out_of_ephemeral(env, Ports()) == (env, [])
