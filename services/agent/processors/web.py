"""A web material: fetch its page from a public address only and keep the main text."""

from __future__ import annotations

import codecs
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any
from urllib.parse import urljoin

import requests
import trafilatura

from libs.errors import Invalid
from libs.platform.settings import Settings
from libs.sources import pinned_http
from libs.sources.pinned_http import Resolver
from libs.sources.urlpolicy import check_public_url, is_public_address
from services.agent.documents import Chunk
from services.agent.processors.errors import SourceUnavailable, UnreadableMaterial

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "CourseSupporter/0.1 (fetches the pages a course author submitted)"
# A whole page must arrive within this many read timeouts (WEB_TIMEOUT_SECONDS each).
TOTAL_TIMEOUTS = 4
_BLOCK_BYTES = 64 * 1024
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def fetch_page(
    url: str,
    settings: Settings,
    *,
    resolver: Resolver = socket.getaddrinfo,
    is_allowed: Callable[[str], bool] = is_public_address,
) -> list[Chunk]:
    """The main text of the page at ``url`` as ``web`` chunks, one per heading or paragraph
    block, each with the final URL (after redirects) and headings with their level.

    Every hop (at most :data:`MAX_REDIRECTS` redirects) passes the URL policy, its host is
    resolved once with ``resolver`` and every address must pass ``is_allowed`` before the
    connection is made to one of those very addresses. :class:`UnreadableMaterial` for
    refused URLs, missing pages, other content types, oversized or empty pages;
    :class:`SourceUnavailable` for timeouts, connection errors, 429 and 5xx."""
    for hop in range(MAX_REDIRECTS + 1):
        request = _prepare(url, redirected=hop > 0)
        addresses = _checked_addresses(request, resolver, is_allowed, redirected=hop > 0)
        with _open(request, addresses, settings) as response:
            if response.is_redirect:
                url = urljoin(request.url, response.headers["Location"])
                continue
            _check_status(response)
            media_type, charset = _content_type(response)
            body = _read_capped(response, settings.web_max_bytes, TOTAL_TIMEOUTS * settings.web_timeout_seconds)
        text = _decode(body, charset)
        chunks = _html_chunks(text, request.url) if media_type in HTML_TYPES else _text_chunks(text, request.url)
        if not chunks:
            raise UnreadableMaterial("no readable text was found on the page")
        return chunks
    raise UnreadableMaterial(f"the page redirects more than {MAX_REDIRECTS} times")


def _prepare(url: str, *, redirected: bool) -> requests.PreparedRequest:
    try:
        url = check_public_url(url, field="url")
    except Invalid as exc:
        reason = exc.errors[0][1]
        raise UnreadableMaterial(
            f"the page redirects to a URL that {reason}" if redirected else f"the URL {reason}"
        ) from None
    # credentials were refused by the policy
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9, */*;q=0.1"}
    return pinned_http.prepare("GET", url, headers=headers)


def _checked_addresses(
    request: requests.PreparedRequest, resolver: Resolver, is_allowed: Callable[[str], bool], *, redirected: bool
) -> list[str]:
    try:
        return pinned_http.checked_addresses(request.url, resolver, is_allowed)
    except pinned_http.NameNotFound:
        raise UnreadableMaterial("the web site's name does not exist") from None
    except pinned_http.LookupFailed as exc:
        log.info("web: cannot resolve %s", exc)
        raise SourceUnavailable("the web site's name could not be looked up") from None
    except pinned_http.AddressRefused as exc:
        log.warning("web: refused %s", exc)
        where = "the page redirects to" if redirected else "the URL points to"
        raise UnreadableMaterial(f"{where} a private or local address") from None


@contextmanager
def _open(request: requests.PreparedRequest, addresses: list[str], settings: Settings) -> Iterator[requests.Response]:
    """The response from the first address that answers, closed (with its pool) on exit."""
    timeout = (settings.web_timeout_seconds, settings.web_timeout_seconds)
    try:
        with pinned_http.pinned_response(request, addresses, timeout=timeout) as response:
            try:
                yield response
            except requests.RequestException as exc:  # while reading the body
                raise _unavailable(request, exc) from None
    except requests.exceptions.SSLError as exc:
        log.info("web: TLS failed for %s: %s", request.url, exc)
        raise UnreadableMaterial("the web site's HTTPS certificate is not valid") from None
    except requests.RequestException as exc:
        raise _unavailable(request, exc) from None


def _unavailable(request: requests.PreparedRequest, exc: Exception) -> SourceUnavailable:
    log.warning("web: fetching %s failed: %r", request.url, exc)
    if isinstance(exc, requests.Timeout):
        return SourceUnavailable("the web server did not answer in time")
    return SourceUnavailable("the web server could not be reached")


def _check_status(response: requests.Response) -> None:
    status = response.status_code
    if status in (404, 410):
        raise UnreadableMaterial(f"the page was not found (HTTP {status})")
    if status == 429 or status >= 500:
        log.warning("web: %s answered %s", response.url, status)
        raise SourceUnavailable(f"the web server answered HTTP {status}; ")
    if not 200 <= status < 300:
        raise UnreadableMaterial(f"the page could not be fetched (HTTP {status})")


def _content_type(response: requests.Response) -> tuple[str, str | None]:
    """The media type and its charset parameter; no charset is None, not requests'
    ISO-8859-1 default for text/*, so detection can do better."""
    header = response.headers.get("Content-Type")
    if not header:
        raise UnreadableMaterial("the page is not HTML or text (it has no content type)")
    message = Message()
    message["Content-Type"] = header
    media_type = message.get_content_type()
    if media_type not in (*HTML_TYPES, "text/plain"):
        raise UnreadableMaterial(f"the page is not HTML or text (it is {media_type})")
    charset = message.get_param("charset")
    return media_type, charset if isinstance(charset, str) else None


def _read_capped(response: requests.Response, limit: int, seconds: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UnreadableMaterial(f"the page is larger than {limit} bytes")
    body = bytearray()
    deadline = time.monotonic() + seconds
    # read1 returns whatever has arrived, so a server trickling a byte at a time meets the
    # deadline between reads instead of holding a worker block by block for ever; decoded
    # bytes are counted, so a compressed body cannot expand past the cap either
    while block := response.raw.read1(_BLOCK_BYTES, decode_content=True):
        body += block
        if len(body) > limit:
            raise UnreadableMaterial(f"the page is larger than {limit} bytes")
        if time.monotonic() > deadline:
            raise UnreadableMaterial(f"the page took longer than {seconds:g} s to download")
    return bytes(body)


def _decode(body: bytes, charset: str | None) -> str:
    try:
        if charset:
            return body.decode(codecs.lookup(charset).name, errors="replace")
    except LookupError:
        pass  # an unknown charset name: detect it instead
    # what requests' Response.apparent_encoding does, on the body read under the cap
    detected = requests.compat.chardet.detect(body)["encoding"] if body else None
    return body.decode(detected or "utf-8", errors="replace")


def _html_chunks(html: str, url: str) -> list[Chunk]:
    document = trafilatura.bare_extraction(html, url=url, include_comments=False, include_tables=True)
    if document is None or document.body is None:
        return []
    chunks = []
    for block in document.body:
        text = _block_text(block)
        if not text:
            continue
        rend = block.get("rend", "")
        if block.tag == "head" and len(rend) == 2 and rend[0] == "h" and rend[1].isdigit():
            chunks.append(Chunk("web", text, {"url": url, "heading_level": int(rend[1])}))
        else:
            chunks.append(Chunk("web", text, {"url": url}))
    return chunks


def _block_text(block: Any) -> str:
    if block.tag == "list":  # items carry no separators of their own
        return "\n".join(text for text in map(_lines, block.iter("item")) if text)
    return _lines(block)


def _lines(element: Any) -> str:
    """An element's text with runs of blanks collapsed and its line breaks kept."""
    lines = ("".join(element.itertext())).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def _text_chunks(text: str, url: str) -> list[Chunk]:
    paragraphs = _BLANK_LINE.split(text.replace("\r\n", "\n"))
    return [Chunk("web", paragraph.strip(), {"url": url}) for paragraph in paragraphs if paragraph.strip()]
