"""The production nginx configurations pass `nginx -t`: the gateway template rendered as the
nginx image renders it in the stack, and the host's TLS site with a throw-away certificate;
gixy finds nothing in the host site. Each check is shown rejecting a planted mistake."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from devstack.tools import binary
from tests.deploy.tools import REPO, Result, Venv, run

TEMPLATE = REPO / "gateway" / "templates" / "gateway.conf.template"
HOST_SITE = REPO / "deploy" / "nginx" / "course-supporter.conf"
LETSENCRYPT = "/etc/letsencrypt/live/api.pythoncourse.me/"


def _wrap(folder: Path, site: Path) -> Path:
    """An nginx.conf like the image's, around ``site``, with every path inside ``folder``."""
    temp = folder / "temp"
    temp.mkdir(exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(
        # the main file is the shared nginx's, not ours: sane enough that gixy judges only the site
        f"""pid {folder}/nginx.pid;
error_log {folder}/error.log;
worker_rlimit_nofile 4096;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log {folder}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""
    )
    return config


def nginx_t(config: Path) -> Result:
    nginx = binary("nginx", "/usr/sbin/nginx")
    return run([nginx, "-t", "-p", config.parent, "-c", config, "-e", config.parent / "error.log"])


def render_for_production(template: Path, folder: Path) -> Path:
    """``template`` rendered as the nginx image's entrypoint does in the stack: envsubst of the
    gateway's environment in docker-compose.prod.yaml, limited to NGINX_ENVSUBST_FILTER. The
    upstreams are compose service names that resolve only inside the stack, so each keeps its
    port on 127.0.0.1: what nginx -t checks is everything else."""
    environment = yaml.safe_load((REPO / "docker-compose.prod.yaml").read_text())["services"]["gateway"]["environment"]
    allowed = re.compile(environment["NGINX_ENVSUBST_FILTER"])
    values = {name: str(value) for name, value in environment.items() if allowed.search(name)}
    # compose's own interpolation first: ${NAME:-default} with .env.prod not setting NAME
    values = {name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value) for name, value in values.items()}
    values = {
        name: re.sub(r"^[a-z][a-z0-9-]*:", "127.0.0.1:", value) if name.endswith("_UPSTREAM") else value
        for name, value in values.items()
    }
    text = template.read_text()
    for name, value in values.items():  # envsubst replaces both $NAME and ${NAME}
        text = re.sub(rf"\$(\{{{name}\}}|{name}\b)", lambda _, v=value: v, text)
    site = folder / "gateway.conf"
    site.write_text(text)
    return _wrap(folder, site)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory, openssl: str) -> Path:
    """A self-signed certificate laid out as certbot's live/ folder."""
    folder = tmp_path_factory.mktemp("letsencrypt")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.pythoncourse.me",
            "-keyout",
            folder / "privkey.pem",
            "-out",
            folder / "fullchain.pem",
        ],
        check=True,
        capture_output=True,
    )
    (folder / "chain.pem").write_bytes((folder / "fullchain.pem").read_bytes())
    return folder


def host_config(site: Path, certificate: Path, folder: Path) -> Path:
    """The host site as the shared nginx includes it, its certificates from ``certificate``."""
    local = folder / "course-supporter.conf"
    local.write_text(site.read_text().replace(LETSENCRYPT, f"{certificate}/"))
    return _wrap(folder, local)


def test_gateway_rendered_for_production_passes_nginx_t(tmp_path: Path) -> None:
    result = nginx_t(render_for_production(TEMPLATE, tmp_path))
    assert result.returncode == 0, result.output
    assert "${" not in (tmp_path / "gateway.conf").read_text(), "a template variable compose does not set"


def test_nginx_t_rejects_a_misspelt_directive_in_the_gateway(tmp_path: Path, planted) -> None:
    bad = planted(TEMPLATE, "client_max_body_size ${MAX_JSON_BYTES};", "client_max_body_siz ${MAX_JSON_BYTES};")
    result = nginx_t(render_for_production(bad, tmp_path))
    assert result.returncode == 1, result.output
    assert 'unknown directive "client_max_body_siz"' in result.output


def test_host_site_passes_nginx_t(tmp_path: Path, certificate: Path) -> None:
    result = nginx_t(host_config(HOST_SITE, certificate, tmp_path))
    assert result.returncode == 0, result.output


def test_nginx_t_rejects_an_unknown_tls_protocol_in_the_host_site(tmp_path: Path, certificate: Path, planted) -> None:
    bad = planted(HOST_SITE, "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.2 TLSv1.4;", name="bad.conf")
    result = nginx_t(host_config(bad, certificate, tmp_path))
    assert result.returncode == 1, result.output
    assert 'invalid value "TLSv1.4"' in result.output


def gixy(validators: Venv, config: Path) -> Result:
    return run([validators.bin("gixy"), config])


def test_host_site_passes_gixy(validators: Venv, tmp_path: Path, certificate: Path) -> None:
    result = gixy(validators, host_config(HOST_SITE, certificate, tmp_path))
    assert result.returncode == 0, result.output
    assert "No issues found" in result.output


def test_gixy_rejects_a_location_that_drops_the_security_headers(
    validators: Venv, tmp_path: Path, certificate: Path, planted
) -> None:
    # an add_header inside a location drops every add_header of the server there (HSTS, nosniff…)
    bad = planted(
        HOST_SITE,
        "        proxy_pass $course_supporter;\n",
        "        proxy_pass $course_supporter;\n        add_header X-Cache miss;\n",
        name="bad.conf",
    )
    result = gixy(validators, host_config(bad, certificate, tmp_path))
    assert result.returncode != 0, result.output
    assert "add_header_redefinition" in result.output
