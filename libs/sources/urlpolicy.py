"""Which URLs the service may fetch: http(s) to public hosts only (no SSRF into our network).

Two checks share this policy. At submission :func:`check_public_url` refuses URLs whose host
is a literal non-public address, in any spelling a resolver or browser accepts (``127.1``,
``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``), or a local name;
names are not resolved there. At fetch time the fetcher resolves the name and checks each
address it connects to with :func:`is_public_address`, which defeats DNS names pointing
inside (rebinding included).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from libs.errors import Invalid

MAX_URL = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints; most fall in non-public ranges already, named here so no
# future widening of those ranges lets them through.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, …
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
# Names that only mean something inside a network: RFC 6761/6762, RFC 8375, and common
# private suffixes (``metadata.google.internal`` among them).
LOCAL_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "localdomain",
    "home.arpa",
    "arpa",
    "test",
    "invalid",
    "example",
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any: reaching
    it reaches that IPv4 host."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress | str) -> bool:
    """Whether ``ip`` is a public unicast address: not loopback, private, shared (CGNAT),
    link-local, unique-local, multicast, reserved, unspecified or a metadata endpoint, also
    when an IPv4 address is embedded in an IPv6 one. Check every address a fetch connects to."""
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip)
        except ValueError:
            return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
    return not (
        ip in METADATA_ADDRESSES
        or not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def _ipv4_number(part: str) -> int | None:
    """One part of an IPv4 host as resolvers read it (``0x`` hex, leading-zero octal,
    decimal), or None when it is not a number."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if digits == "":
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def parse_ipv4_host(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host means in the WHATWG/inet_aton reading (``127.1``,
    ``2130706433``, ``0x7f.1``, ``0177.0.0.1``), or None if the host is a name.
    :class:`ValueError` for a host that looks numeric but is no address (``1.2.3.999``)."""
    parts = host.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()  # a trailing dot
    if not parts or _ipv4_number(parts[-1]) is None:
        return None  # the last label is not a number: a name
    numbers = [_ipv4_number(part) if part else None for part in parts]
    if len(parts) > 4 or any(number is None for number in numbers):
        raise ValueError("not an IPv4 address")
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("not an IPv4 address")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def is_local_name(host: str) -> bool:
    """Whether a host name can only mean something inside a network: single-label names
    (``intranet``) and local suffixes (``localhost``, ``*.local``, ``*.internal``, …)."""
    name = host.rstrip(".").lower()
    if "." not in name:
        return True
    return any(name == suffix or name.endswith("." + suffix) for suffix in LOCAL_SUFFIXES)


def check_public_url(url: str, *, field: str = "source_url") -> str:
    """``url`` stripped of surrounding blanks if it is http(s) without credentials to a host
    that is neither a non-public address literal nor a local name; :class:`Invalid` naming
    the problem otherwise. Names are not resolved: the fetcher checks addresses again."""
    url = url.strip()

    def refuse(reason: str) -> Invalid:
        return Invalid(f"{field}: {reason}", field=field)

    if len(url) > MAX_URL:
        raise refuse(f"must be at most {MAX_URL} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise refuse("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("must be an http or https URL")
    if "@" in parts.netloc:
        raise refuse("must not contain credentials (user:password@)")
    host = parts.hostname
    if not host:
        raise refuse("must be an http or https URL with a host")
    if port == 0:
        raise refuse("has an invalid port")
    if parts.netloc.startswith("["):
        try:
            address: IPAddress | None = ipaddress.IPv6Address(host)
        except ValueError:
            raise refuse("has an invalid IPv6 address") from None
    else:
        try:
            # IDNA first: it maps look-alikes such as full-width digits to the ASCII a
            # resolver would see
            host = host.rstrip(".").encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise refuse("has a host name that is not valid") from None
        try:
            address = parse_ipv4_host(host)
        except ValueError:
            raise refuse("has a numeric host that is not a valid IPv4 address") from None
    if address is not None:
        if not is_public_address(address):
            raise refuse("must point to a public address, not a loopback, private, link-local or metadata one")
        return url
    if not all(_LABEL.match(label) for label in host.split(".")):
        raise refuse("has a host name that is not valid")
    if is_local_name(host):
        raise refuse("must name a public host, not localhost or a local or single-label name")
    return url
