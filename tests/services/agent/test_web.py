"""fetch_page against a local site of the test's own, reached through an injected resolver."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests.adapters

from libs.platform.settings import Settings
from libs.sources.urlpolicy import is_public_address
from services.agent.processors.errors import SourceUnavailable, UnreadableMaterial
from services.agent.processors.web import fetch_page
from tests.fakes.quiet_server import QuietHTTPServer
from tests.services.agent.readers import offline_settings

HOST = "course-site.example.com"  # passes the URL policy; only the fake resolver knows it
LIMIT = 8 * 1024
# a generous read timeout: the machine may be busy; /slow uses its own
SETTINGS = offline_settings(WEB_MAX_BYTES=str(LIMIT), WEB_TIMEOUT_SECONDS="5")

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>Falcon course</title>
<script>var secretScript = "must not appear";</script></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">NavigationOnly</a></li></ul></nav>
<main><article><h1>Introduction to Falcon</h1>
<p>Falcon is a minimalist Python web framework for building reliable, fast REST APIs and app backends.</p>
<h2>Resources and responders</h2>
<p>A resource is a plain class whose responders, such as on_get and on_post, handle the requests.</p>
<p>Responders receive the request and the response objects and set the status, headers and media
\xe2\x80\x94 caf\xc3\xa9.</p>
</article></main><footer>FooterOnly</footer><script>console.log("tracking")</script></body></html>"""

Route = Callable[[BaseHTTPRequestHandler], None]


def answer(status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8", **headers: str) -> Route:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def redirect(location: str, status: int = 302) -> Route:
    return answer(status, b"", Location=location)


def unsized(handler: BaseHTTPRequestHandler) -> None:
    # no Content-Length: the body ends when the connection closes, so only counting stops it
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.end_headers()
    for _ in range(64):
        handler.wfile.write(b"x" * 1024)


def trickle(handler: BaseHTTPRequestHandler) -> None:
    # a byte every 0.2 s: every read is within its timeout, the whole page never is
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.end_headers()
    for _ in range(100):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.2)


def slow(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(2.5)  # past the 1 s the test gives it
    answer(200, PAGE)(handler)


ROUTES: dict[str, Route] = {
    "/course": answer(200, PAGE),
    "/notes.txt": answer(
        200, "First paragraph,\nstill the first.\n\n  \nSecond one: café.\n".encode(), "text/plain; charset=utf-8"
    ),
    "/latin.txt": answer(200, b"Caf\xe9 au lait.", "text/plain; charset=iso-8859-1"),
    "/slides.pdf": answer(200, b"%PDF-1.4 not really", "application/pdf"),
    "/missing": answer(404, b"not here"),
    "/gone": answer(410, b"gone"),
    "/forbidden": answer(403, b"no"),
    "/broken": answer(500, b"oops"),
    "/busy": answer(429, b"later", **{"Retry-After": "1"}),
    "/huge": answer(200, b"y" * (LIMIT + 1), "text/plain"),
    "/unsized": unsized,
    "/slow": slow,
    "/trickle": trickle,
    "/empty": answer(200, b"<html><body><script>only()</script></body></html>"),
    "/hop1": redirect("/hop2", 301),
    "/hop2": redirect("hop3", 307),
    "/hop3": redirect("/course", 303),
    "/loop": redirect("/loop"),
    "/to-private": redirect("http://10.0.0.1/"),
    "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
}


class Site:
    """A threaded HTTP server on 127.0.0.1 that records each request's path and Host."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        seen = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Host")))
                ROUTES.get(self.path, answer(404))(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = HOST, scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@pytest.fixture
def site() -> Iterator[Site]:
    instance = Site()
    instance.thread.start()
    yield instance
    instance.server.shutdown()
    instance.server.server_close()


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address a socket connects to. Anything but 127.0.0.1 fails the test before it
    leaves the machine, and a name lookup by anyone but the injected resolver (a second,
    unchecked lookup) fails it too."""
    made: list[tuple[str, int]] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: tuple) -> None:
        made.append(address[:2])
        assert address[0] == "127.0.0.1", f"connection attempted to {address}"
        real_connect(sock, address)

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list:
        ipaddress.ip_address(host)  # ValueError for a name: only literals may pass
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return made


class Resolver:
    """A resolver from a fixed table, counting its lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int, family: int = 0, type: int = 0, *rest: int) -> list[tuple]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in self.table[host]
        ]


def local(address: str) -> bool:
    """The policy, plus the test site's 127.0.0.1."""
    return address == "127.0.0.1" or is_public_address(address)


def fetch(site: Site, path: str, *, table: dict[str, list[str]] | None = None, settings: Settings = SETTINGS):
    resolver = Resolver(table or {HOST: ["127.0.0.1"]})
    return fetch_page(site.url(path), settings, resolver=resolver, is_allowed=local), resolver


def test_html_page_gives_headings_and_paragraphs_without_scripts_or_navigation(site: Site, connections) -> None:
    chunks, resolver = fetch(site, "/course")

    url = site.url("/course")
    assert [(chunk.kind, chunk.text, chunk.metadata) for chunk in chunks] == [
        ("web", "Introduction to Falcon", {"url": url, "heading_level": 1}),
        (
            "web",
            "Falcon is a minimalist Python web framework for building reliable, fast REST APIs and app backends.",
            {"url": url},
        ),
        ("web", "Resources and responders", {"url": url, "heading_level": 2}),
        (
            "web",
            "A resource is a plain class whose responders, such as on_get and on_post, handle the requests.",
            {"url": url},
        ),
        (
            "web",
            "Responders receive the request and the response objects and set the status, headers and media — café.",
            {"url": url},
        ),
    ]
    text = " ".join(chunk.text for chunk in chunks)
    for hidden in ("must not appear", "tracking", "NavigationOnly", "FooterOnly"):
        assert hidden not in text
    # one lookup, by the injected resolver; the connection went to the address it returned,
    # and the site still saw its own name
    assert resolver.lookups == [HOST]
    assert connections == [("127.0.0.1", site.port)]
    assert site.requests == [("/course", f"{HOST}:{site.port}")]


def test_plain_text_becomes_paragraphs(site: Site) -> None:
    chunks, _ = fetch(site, "/notes.txt")

    assert [(chunk.text, chunk.metadata) for chunk in chunks] == [
        ("First paragraph,\nstill the first.", {"url": site.url("/notes.txt")}),
        ("Second one: café.", {"url": site.url("/notes.txt")}),
    ]


def test_text_is_decoded_with_the_declared_charset(site: Site) -> None:
    chunks, _ = fetch(site, "/latin.txt")

    assert [chunk.text for chunk in chunks] == ["Café au lait."]


def test_redirects_are_followed_and_the_final_url_is_kept(site: Site, connections) -> None:
    chunks, resolver = fetch(site, "/hop1")

    assert {chunk.metadata["url"] for chunk in chunks} == {site.url("/course")}
    assert [path for path, _ in site.requests] == ["/hop1", "/hop2", "/hop3", "/course"]
    assert resolver.lookups == [HOST] * 4  # every hop resolved and checked again
    assert connections == [("127.0.0.1", site.port)] * 4


def test_endless_redirects_stop_after_five(site: Site) -> None:
    with pytest.raises(UnreadableMaterial, match="redirects more than 5 times"):
        fetch(site, "/loop")
    assert len(site.requests) == 6


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/slides.pdf", r"^the page is not HTML or text \(it is application/pdf\)$"),
        ("/missing", r"^the page was not found \(HTTP 404\)$"),
        ("/gone", r"^the page was not found \(HTTP 410\)$"),
        ("/forbidden", r"^the page could not be fetched \(HTTP 403\)$"),
        ("/huge", rf"^the page is larger than {LIMIT} bytes$"),
        ("/unsized", rf"^the page is larger than {LIMIT} bytes$"),
        ("/empty", r"^no readable text was found on the page$"),
    ],
)
def test_pages_that_cannot_be_read(site: Site, path: str, message: str) -> None:
    with pytest.raises(UnreadableMaterial, match=message) as caught:
        fetch(site, path)
    assert not isinstance(caught.value, SourceUnavailable)


@pytest.mark.parametrize(
    ("path", "message"), [("/broken", "HTTP 500"), ("/busy", "HTTP 429"), ("/slow", "did not answer in time")]
)
def test_server_trouble_is_transient(site: Site, path: str, message: str) -> None:
    with pytest.raises(SourceUnavailable, match=message):
        fetch(site, path, settings=dataclasses.replace(SETTINGS, web_timeout_seconds=1))


def test_a_page_that_trickles_in_is_cut_off_at_the_whole_page_deadline(site: Site) -> None:
    started = time.monotonic()
    with pytest.raises(UnreadableMaterial, match=r"^the page took longer than 4 s to download$"):
        fetch(site, "/trickle", settings=dataclasses.replace(SETTINGS, web_timeout_seconds=1))
    assert time.monotonic() - started < 15  # four read timeouts, not the 20 s the server would take


def test_a_closed_port_is_transient(site: Site) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now

    with pytest.raises(SourceUnavailable, match="could not be reached"):
        fetch_page(f"http://{HOST}:{port}/", SETTINGS, resolver=Resolver({HOST: ["127.0.0.1"]}), is_allowed=local)


def test_an_unknown_name_is_unreadable(site: Site, connections) -> None:
    with pytest.raises(UnreadableMaterial, match="name does not exist"):
        fetch(site, "/course", table={"elsewhere.example.com": ["127.0.0.1"]})
    assert connections == []


# --- refusals with the production policy: nothing may be connected to -------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/course",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/course",
        "http://localhost:{port}/course",
    ],
)
def test_local_addresses_are_refused_before_connecting(site: Site, connections, url: str) -> None:
    with pytest.raises(UnreadableMaterial, match=r"^the URL must") as caught:
        fetch_page(url.format(port=site.port), SETTINGS)
    assert "private" in str(caught.value) or "local" in str(caught.value)
    assert connections == []
    assert site.requests == []


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["10.1.2.3"], ["8.8.8.8", "127.0.0.1"], ["::1"], ["fe80::1"]])
def test_a_name_resolving_inside_is_refused_before_connecting(site: Site, connections, addresses: list[str]) -> None:
    resolver = Resolver({"evil.example.com": addresses})

    with pytest.raises(UnreadableMaterial, match=r"^the URL points to a private or local address$"):
        fetch_page(f"http://evil.example.com:{site.port}/course", SETTINGS, resolver=resolver)
    assert resolver.lookups == ["evil.example.com"]
    assert connections == []
    assert site.requests == []


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata"])
def test_a_redirect_to_a_private_address_is_refused(site: Site, connections, path: str) -> None:
    with pytest.raises(UnreadableMaterial, match=r"^the page redirects to a URL that must point to a public address"):
        fetch(site, path)
    assert connections == [("127.0.0.1", site.port)]  # the first hop only
    assert [p for p, _ in site.requests] == [path]


def test_a_redirect_to_a_name_resolving_inside_is_refused(site: Site, connections) -> None:
    ROUTES["/to-inside"] = redirect(f"http://inside.example.com:{site.port}/course")
    try:
        with pytest.raises(UnreadableMaterial, match=r"^the page redirects to a private or local address$"):
            fetch(site, "/to-inside", table={HOST: ["127.0.0.1"], "inside.example.com": ["10.0.0.7"]})
    finally:
        del ROUTES["/to-inside"]
    assert connections == [("127.0.0.1", site.port)]


# --- https: the connection is pinned to the address, TLS still names and checks the host --


def certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (and its key)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.mark.parametrize("certified", [HOST, "other-site.example.com"])
def test_https_sends_the_host_name_and_verifies_the_certificate_against_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connections, certified: str
) -> None:
    cert, key = certificate(tmp_path, certified)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _context: names.append(name)
    # trust this one certificate, as if a public CA had issued it
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(cert))
    site = Site(tls=context)
    site.thread.start()
    try:
        url = site.url("/course", scheme="https")
        resolver = Resolver({HOST: ["127.0.0.1"]})
        if certified == HOST:
            chunks = fetch_page(url, SETTINGS, resolver=resolver, is_allowed=local)
            assert chunks[0].text == "Introduction to Falcon"
            assert site.requests == [("/course", f"{HOST}:{site.port}")]
        else:
            with pytest.raises(UnreadableMaterial, match=r"^the web site's HTTPS certificate is not valid$"):
                fetch_page(url, SETTINGS, resolver=resolver, is_allowed=local)
            assert site.requests == []
    finally:
        site.server.shutdown()
        site.server.server_close()
    assert names == [HOST]
    assert connections == [("127.0.0.1", site.port)]
