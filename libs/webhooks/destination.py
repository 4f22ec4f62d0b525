"""Where a webhook may point: HTTPS to a public host, checked when it is registered and again
before every delivery (a name can be made to resolve inside after it was registered).
``allow_private`` (``WEBHOOK_ALLOW_PRIVATE``: local receivers and tests, never production)
also allows plain HTTP, local names and private addresses."""

from __future__ import annotations

from urllib.parse import urlsplit

from libs.errors import Invalid, Unavailable
from libs.sources import pinned_http
from libs.sources.pinned_http import Resolver
from libs.sources.urlpolicy import MAX_URL, check_public_url, is_public_address

FIELD = "url"


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` without surrounding blanks if an endpoint may have it; :class:`Invalid` naming
    why not. Names are resolved by :func:`addresses`."""
    url = url.strip()
    if allow_private:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
            raise Invalid(f"{FIELD}: must be an http or https URL with a host", field=FIELD)
        return url
    url = check_public_url(url, field=FIELD)
    if urlsplit(url).scheme.lower() != "https":
        raise Invalid(f"{FIELD}: must be an https URL", field=FIELD)
    return url


def addresses(url: str, *, allow_private: bool, resolver: Resolver) -> list[str]:
    """The checked addresses to connect to for ``url``; pinned_http's errors say why not."""
    return pinned_http.checked_addresses(url, resolver, (lambda _address: True) if allow_private else is_public_address)


def check_registration(url: str, *, allow_private: bool, resolver: Resolver) -> str:
    """:func:`check_url`, then the name resolved and every address checked, as a 422 (or a
    503 when DNS does not answer now): a URL that could never be delivered to is refused."""
    url = check_url(url, allow_private=allow_private)
    try:
        addresses(url, allow_private=allow_private, resolver=resolver)
    except pinned_http.NameNotFound:
        raise Invalid(f"{FIELD}: its host name does not exist", field=FIELD) from None
    except pinned_http.AddressRefused:
        raise Invalid(f"{FIELD}: its host resolves to a private, local or metadata address", field=FIELD) from None
    except pinned_http.LookupFailed:
        raise Unavailable("The URL's host name could not be looked up now; try again shortly.") from None
    return url
