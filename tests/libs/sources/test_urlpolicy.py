"""The URL policy: http(s) to public hosts only, whatever the spelling of the address."""

import ipaddress

import pytest

from libs.errors import Invalid
from libs.sources.urlpolicy import check_public_url, is_public_address, parse_ipv4_host

ACCEPTED = [
    "https://example.com/page",
    "http://example.com",
    "HTTPS://Example.COM/a?b=c#d",
    "https://example.com:8443/x",
    "https://sub.domain.example.org./trailing-dot",
    "http://93.184.216.34/",
    "http://8.8.8.8:80/dns",
    "http://[2606:4700:4700::1111]/",
    "http://[::ffff:8.8.8.8]/",
    "http://[64:ff9b::808:808]/",  # NAT64 of 8.8.8.8
    "https://bücher.example.com/",
    "  https://example.com/padded  ",
]

# Each refusal's whole reason, so a case passes only when the rule meant for it refused it
# (the address rule's reason mentions "link-local", for one, which a substring "local" matches).
PUBLIC_ADDRESS = "must point to a public address, not a loopback, private, link-local or metadata one"
LOCAL_NAME = "must name a public host, not localhost or a local or single-label name"
BAD_IPV4 = "has a numeric host that is not a valid IPv4 address"
BAD_HOST_NAME = "has a host name that is not valid"
NOT_A_URL = "is not a valid URL"
CONTROL_CHARACTERS = "must not contain spaces or control characters"
BAD_PORT = "has an invalid port"
CREDENTIALS = "must not contain credentials (user:password@)"
NOT_HTTP = "must be an http or https URL"
NO_HOST = "must be an http or https URL with a host"
TOO_LONG = "must be at most 2048 characters"

REFUSED = {
    # loopback in every spelling
    "http://127.0.0.1/": PUBLIC_ADDRESS,
    "http://127.1/": PUBLIC_ADDRESS,
    "http://127.0.1/": PUBLIC_ADDRESS,
    "http://2130706433/": PUBLIC_ADDRESS,
    "http://0x7f000001/": PUBLIC_ADDRESS,
    "http://0x7f.0.0.1/": PUBLIC_ADDRESS,
    "http://0177.0.0.1/": PUBLIC_ADDRESS,
    "http://017700000001/": PUBLIC_ADDRESS,
    "http://127.0.0.1.:8000/": PUBLIC_ADDRESS,
    "http://[::1]/": PUBLIC_ADDRESS,
    "http://[0:0:0:0:0:0:0:1]/": PUBLIC_ADDRESS,
    "http://[::ffff:127.0.0.1]/": PUBLIC_ADDRESS,
    "http://[::ffff:7f00:1]/": PUBLIC_ADDRESS,
    "http://[64:ff9b::7f00:1]/": PUBLIC_ADDRESS,  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/": PUBLIC_ADDRESS,  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/": PUBLIC_ADDRESS,  # 6to4 of 169.254.169.254
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/": PUBLIC_ADDRESS,  # full-width digits
    # private, shared, link-local, unique-local, metadata, unspecified, multicast, reserved
    "http://10.0.0.1/": PUBLIC_ADDRESS,
    "http://172.16.5.4/": PUBLIC_ADDRESS,
    "http://192.168.1.1/": PUBLIC_ADDRESS,
    "http://100.64.0.1/": PUBLIC_ADDRESS,
    "http://169.254.169.254/latest/meta-data/": PUBLIC_ADDRESS,
    "http://[fd00:ec2::254]/": PUBLIC_ADDRESS,
    "http://100.100.100.200/": PUBLIC_ADDRESS,
    "http://[fe80::1]/": PUBLIC_ADDRESS,
    "http://[fc00::1]/": PUBLIC_ADDRESS,
    "http://0.0.0.0/": PUBLIC_ADDRESS,
    "http://0/": PUBLIC_ADDRESS,
    "http://[::]/": PUBLIC_ADDRESS,
    "http://224.0.0.1/": PUBLIC_ADDRESS,
    "http://255.255.255.255/": PUBLIC_ADDRESS,
    "http://240.0.0.1/": PUBLIC_ADDRESS,
    "http://[2001:db8::1]/": PUBLIC_ADDRESS,
    "http://[ff02::1]/": PUBLIC_ADDRESS,
    # local and single-label names
    "http://localhost/": LOCAL_NAME,
    "http://LOCALHOST:8080/": LOCAL_NAME,
    "http://localhost./": LOCAL_NAME,
    "http://api.localhost/": LOCAL_NAME,
    "http://printer.local/": LOCAL_NAME,
    "http://metadata.google.internal/computeMetadata/v1/": LOCAL_NAME,
    "http://db.internal/": LOCAL_NAME,
    "http://router.home.arpa/": LOCAL_NAME,
    "http://intranet/": LOCAL_NAME,
    "http://1.0.0.127.in-addr.arpa/": LOCAL_NAME,
    # not a valid host
    "http://1.2.3.999/": BAD_IPV4,
    "http://1.2.3.4.5/": BAD_IPV4,
    "http://0x1g.0.0.1/": BAD_IPV4,
    "http://127%2e0%2e0%2e1/": BAD_HOST_NAME,
    "http://[::1/": NOT_A_URL,
    "http://[not-ipv6]/": NOT_A_URL,
    "http://[fe80::1%25eth0]/": PUBLIC_ADDRESS,
    "http://exa mple.com/": CONTROL_CHARACTERS,
    "http://example.com/\x00": CONTROL_CHARACTERS,
    "http://example.com:99999/": NOT_A_URL,
    "http://example.com:0/": BAD_PORT,
    # credentials, schemes, shapes
    "http://user:pass@example.com/": CREDENTIALS,
    "http://user@example.com/": CREDENTIALS,
    "http://example.com@127.0.0.1/": CREDENTIALS,
    "ftp://example.com/x": NOT_HTTP,
    "file:///etc/passwd": NOT_HTTP,
    "gopher://example.com/": NOT_HTTP,
    "javascript:alert(1)": NOT_HTTP,
    "//example.com/x": NOT_HTTP,
    "http:///path-only": NO_HOST,
    "https://" + "a" * 2050 + ".com/": TOO_LONG,
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_urls_are_accepted(url):
    assert check_public_url(url) == url.strip()


@pytest.mark.parametrize(("url", "reason"), list(REFUSED.items()))
def test_non_public_urls_are_refused_naming_the_field(url, reason):
    with pytest.raises(Invalid) as caught:
        check_public_url(url)
    assert caught.value.description == f"source_url: {reason}"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("169.254.1.1", False),
        ("0.0.0.0", False),  # noqa: S104 (an address judged, not bound)
        ("224.0.0.251", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fd00:ec2::254", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2002:c0a8:101::", False),
        ("not an address", False),
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(address) is public
    if address != "not an address":
        assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.258", "10.1.1.2"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0x", "0.0.0.0"),  # noqa: S104
        ("example.com", None),
        ("1.2.3.example", None),
    ],
)
def test_ipv4_hosts_are_read_as_resolvers_read_them(host, address):
    parsed = parse_ipv4_host(host)
    assert (str(parsed) if parsed else None) == address
