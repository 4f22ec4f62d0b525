"""The one HTTP client that reaches addresses a tenant named (web materials, webhooks): the
host is resolved once, every address it has is checked, and the connection goes to one of
those very addresses, so a name cannot point inside our network, by rebinding or otherwise."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool

Resolver = Callable[..., list[tuple[Any, ...]]]


class NameNotFound(Exception):
    """The host name does not exist."""


class LookupFailed(Exception):
    """The host name could not be looked up now (a passing DNS failure)."""


class AddressRefused(Exception):
    """The host name resolves to an address that is not allowed (private, local, metadata)."""


def checked_addresses(url: str, resolver: Resolver, is_allowed: Callable[[str], bool]) -> list[str]:
    """The addresses of ``url``'s host, each passing ``is_allowed``: a name that also points
    at one refused address is refused whole."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = resolver(parts.hostname, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise NameNotFound(parts.hostname) from None
        raise LookupFailed(f"{parts.hostname}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise NameNotFound(parts.hostname)
    if not all(is_allowed(address) for address in addresses):
        raise AddressRefused(f"{parts.hostname} resolves to {addresses}")
    return addresses


class PinnedAdapter(HTTPAdapter):
    """Sends requests to one address that was resolved and checked beforehand.

    Letting urllib3 resolve the host itself would be a second DNS lookup, which a rebinding
    name can answer with 127.0.0.1 after the check saw a public address. So the pool is keyed
    on, and connects to, the checked address, while everything that names the site still
    uses the host: TLS sends it as SNI and verifies the certificate against it
    (``server_hostname``/``assert_hostname``; urllib3 drops both for plain http), and the
    caller sets the ``Host`` header. One adapter per hop, so a redirect to another host
    never reuses a pin."""

    def __init__(self, address: str) -> None:
        super().__init__(max_retries=0)
        self._address = address

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> HTTPConnectionPool:
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs.update(server_hostname=host_params["host"], assert_hostname=host_params["host"])
        # proxies are ignored on purpose: a proxy would resolve the name again
        return self.poolmanager.connection_from_host(
            scheme=host_params["scheme"], host=self._address, port=host_params["port"], pool_kwargs=pool_kwargs
        )


def prepare(method: str, url: str, *, headers: dict[str, str], data: bytes | None = None) -> requests.PreparedRequest:
    """The request for ``url`` with its ``Host`` header set: the connection goes to an
    address, so the site's name travels in Host (IDNA-encoded by prepare())."""
    request = requests.Request(method, url, headers=headers, data=data).prepare()
    request.headers["Host"] = urlsplit(request.url).netloc
    return request


@contextmanager
def pinned_response(
    request: requests.PreparedRequest,
    addresses: list[str],
    *,
    timeout: tuple[float, float],
    verify: bool | str = True,
) -> Iterator[requests.Response]:
    """The streamed response from the first of ``addresses`` that takes the connection (a
    refused connection moves on to the next, as a browser would), closed with its pool on
    exit. Redirects are not followed; requests' exceptions are the caller's to word."""
    for index, address in enumerate(addresses):
        adapter = PinnedAdapter(address)
        try:
            try:
                response = adapter.send(request, stream=True, timeout=timeout, verify=verify)
            except requests.exceptions.SSLError:
                raise
            except requests.ConnectionError:
                if index + 1 < len(addresses):
                    continue
                raise
            with response:
                yield response
            return
        finally:
            adapter.close()
