"""make logs on the local stack: which files devstack.logs follows."""

from pathlib import Path

import pytest

from devstack.logs import log_files


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("auth", "courses", "agent", "agent-worker", "nginx", "nginx-access", "nginx-error"):
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs" / f"{name}.log").write_text("")
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "server.log").write_text("")
    return tmp_path


def test_a_service_follows_its_own_log(root):
    assert log_files(root, "courses") == [root / "logs" / "courses.log"]


def test_the_production_names_reach_the_same_parts(root):
    assert log_files(root, "postgres-cs") == [root / "postgres" / "server.log"]
    assert log_files(root, "agent-api") == [root / "logs" / "agent.log"]
    assert {path.name for path in log_files(root, "gateway")} == {"nginx.log", "nginx-access.log", "nginx-error.log"}


def test_no_service_follows_every_log(root):
    assert len(log_files(root)) == 8


def test_an_unknown_service_is_refused_naming_those_that_have_logs(root):
    with pytest.raises(LookupError, match="services with logs: agent, agent-worker, auth, courses, nginx, postgres"):
        log_files(root, "payments")
