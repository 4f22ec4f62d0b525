"""scripts/smoke_test.sh, the deploy workflow's last step, against the session's real stack."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smoke_test.sh"


def ensure_tool(name: str) -> str:
    """``name``'s path, installed with apt-get first when missing (CI is a fresh machine)."""
    if shutil.which(name) is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", name],
            check=True,
            timeout=300,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    found = shutil.which(name)
    assert found, f"{name} could not be installed"
    return found


@pytest.fixture(scope="module")
def curl() -> str:
    """The script's one tool beyond bash and python3."""
    return ensure_tool("curl")


def smoke(curl: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False)


def results(output: str) -> dict[str, str]:
    """``{check name: "PASS" | "FAIL"}`` from the script's ``PASS name: …`` lines."""
    lines = [line.split(" ", 1) for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))]
    return {rest.split(":", 1)[0]: verdict for verdict, rest in lines}


def wait_for_health_check(url: str, name: str, value: str, timeout: float = 30) -> None:
    """Until /health's check ``name`` reads ``value`` (each worker caches its probes a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(url, timeout=10).json().get("checks", {}).get(name) == value:
            return
        time.sleep(0.3)
    raise AssertionError(f"/health never showed {name}={value}")


def test_the_smoke_test_passes_every_check_against_a_healthy_stack(stack, tenant, curl):
    result = smoke(curl, stack.gateway_url, tenant.make_key(("check",)).secret)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = results(result.stdout)
    # every check ran and passed (the header checks only run behind the host nginx)
    assert verdicts == dict.fromkeys(["health", "no-key", "bad-key", "key", "openapi", "docs", "not-found"], "PASS")


def test_the_smoke_test_fails_naming_health_while_redis_is_stopped(stack, faults, tenant, curl):
    key = tenant.make_key().secret
    health = f"{stack.gateway_url}/health"
    stack.stop_redis()
    try:
        wait_for_health_check(health, "redis", "fail")
        result = smoke(curl, stack.gateway_url, key)
    finally:
        stack.start_redis()
        wait_for_health_check(health, "redis", "ok")
    assert result.returncode == 1, result.stdout
    assert results(result.stdout)["health"] == "FAIL"
    assert "redis=fail" in result.stdout
    # the limiter fails open: the API itself still answers
    assert results(result.stdout)["key"] == "PASS"


def test_the_smoke_test_fails_when_nothing_answers(curl):
    from devstack.ports import free_port

    result = smoke(curl, f"http://127.0.0.1:{free_port()}", "cs_live_whatever")
    assert result.returncode == 1
    assert "PASS" not in result.stdout
    assert "no answer" in result.stdout


def test_expecting_tls_headers_fails_on_the_gateway_which_sets_no_hsts(stack, tenant, curl):
    result = smoke(curl, "--expect-tls-headers", stack.gateway_url, tenant.make_key().secret)
    assert result.returncode == 1
    verdicts = results(result.stdout)
    assert verdicts["header-Strict-Transport-Security"] == "FAIL"
    assert verdicts["header-X-Content-Type-Options"] == "PASS"


def test_the_smoke_test_refuses_a_base_url_without_a_scheme(curl):
    result = smoke(curl, "api.example.com", "cs_live_whatever")
    assert result.returncode == 2
    assert "BASE_URL must start with http:// or https://" in result.stderr


HOST_SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "course-supporter.conf"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away self-signed certificate, laid out as certbot's live/ folder."""
    folder = tmp_path_factory.mktemp("certificate")
    subprocess.run(
        [
            *(ensure_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=api.pythoncourse.me", "-keyout", str(folder / "privkey.pem")),
            *("-out", str(folder / "fullchain.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (folder / "chain.pem").write_bytes((folder / "fullchain.pem").read_bytes())
    return folder


@contextlib.contextmanager
def host_nginx(site_text: str, stack, certificate: Path) -> Iterator[str]:
    """The host site running in front of the session's gateway, on free ports of 127.0.0.1
    (certbot's paths and the gateway's address replaced); yields its https:// base URL."""
    from devstack.ports import free_port
    from devstack.processes import port_open, wait_until
    from devstack.tools import binary

    https, http = free_port(), free_port()
    site_text = (
        site_text.replace("/etc/letsencrypt/live/api.pythoncourse.me/", f"{certificate}/")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("http://course-supporter-app:8080", stack.gateway_url)
    )
    # /tmp itself, not pytest's 0700 folders: the workers run as nobody when the master is root
    home = Path(tempfile.mkdtemp(prefix="host-nginx-"))
    try:
        home.chmod(0o777)
        (home / "site.conf").write_text(site_text)
        (home / "nginx.conf").write_text(
            f"pid {home}/nginx.pid;\nerror_log {home}/error.log;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {home}/body;\n  proxy_temp_path {home}/proxy;\n"
            f"  include {home}/site.conf;\n}}\n"
        )
        argv = [
            binary("nginx", "/usr/sbin/nginx"),
            "-p",
            str(home),
            "-c",
            str(home / "nginx.conf"),
            "-e",
            str(home / "error.log"),
        ]
        process = subprocess.Popen([*argv, "-g", "daemon off;"], stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_until(lambda: port_open(https) or process.poll() is not None, timeout=20, what="the host nginx")
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            yield f"https://127.0.0.1:{https}"
        finally:
            process.terminate()
            process.wait(timeout=20)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_behind_the_host_nginx_the_smoke_test_passes_with_its_security_headers(stack, tenant, curl, certificate):
    with host_nginx(HOST_SITE.read_text(), stack, certificate) as base_url:
        result = smoke(curl, "--insecure", base_url, tenant.make_key().secret)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = results(result.stdout)
    headers = ["Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"]
    assert {f"header-{name}" for name in headers} <= verdicts.keys()
    assert set(verdicts.values()) == {"PASS"}


def test_behind_a_host_nginx_without_hsts_the_smoke_test_fails_naming_the_header(stack, tenant, curl, certificate):
    site = HOST_SITE.read_text()
    hsts = 'add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;'
    assert hsts in site
    with host_nginx(site.replace(hsts, ""), stack, certificate) as base_url:
        result = smoke(curl, "--insecure", base_url, tenant.make_key().secret)
    assert result.returncode == 1
    assert results(result.stdout)["header-Strict-Transport-Security"] == "FAIL"


def test_resolve_reaches_the_host_by_its_name_before_dns_points_at_it(stack, tenant, curl, certificate):
    with host_nginx(HOST_SITE.read_text(), stack, certificate) as base_url:
        port = base_url.rsplit(":", 1)[1]
        named = f"https://api.pythoncourse.me:{port}"
        result = smoke(
            curl, "--insecure", "--resolve", f"api.pythoncourse.me:{port}:127.0.0.1", named, tenant.make_key().secret
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(results(result.stdout).values()) == {"PASS"}
