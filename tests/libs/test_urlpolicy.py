"""The URL policy: http(s) to public hosts only, whatever the spelling of the address."""

import ipaddress

import pytest

from libs.errors import Invalid
from libs.urlpolicy import check_public_url, is_public_address, parse_ipv4_host

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

REFUSED = {
    # loopback in every spelling
    "http://127.0.0.1/": "public address",
    "http://127.1/": "public address",
    "http://127.0.1/": "public address",
    "http://2130706433/": "public address",
    "http://0x7f000001/": "public address",
    "http://0x7f.0.0.1/": "public address",
    "http://0177.0.0.1/": "public address",
    "http://017700000001/": "public address",
    "http://127.0.0.1.:8000/": "public address",
    "http://[::1]/": "public address",
    "http://[0:0:0:0:0:0:0:1]/": "public address",
    "http://[::ffff:127.0.0.1]/": "public address",
    "http://[::ffff:7f00:1]/": "public address",
    "http://[64:ff9b::7f00:1]/": "public address",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/": "public address",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/": "public address",  # 6to4 of 169.254.169.254
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/": "public address",  # full-width digits
    # private, shared, link-local, unique-local, metadata, unspecified, multicast, reserved
    "http://10.0.0.1/": "public address",
    "http://172.16.5.4/": "public address",
    "http://192.168.1.1/": "public address",
    "http://100.64.0.1/": "public address",
    "http://169.254.169.254/latest/meta-data/": "public address",
    "http://[fd00:ec2::254]/": "public address",
    "http://100.100.100.200/": "public address",
    "http://[fe80::1]/": "public address",
    "http://[fc00::1]/": "public address",
    "http://0.0.0.0/": "public address",
    "http://0/": "public address",
    "http://[::]/": "public address",
    "http://224.0.0.1/": "public address",
    "http://255.255.255.255/": "public address",
    "http://240.0.0.1/": "public address",
    "http://[2001:db8::1]/": "public address",
    "http://[ff02::1]/": "public address",
    # local and single-label names
    "http://localhost/": "local",
    "http://LOCALHOST:8080/": "local",
    "http://localhost./": "local",
    "http://api.localhost/": "local",
    "http://printer.local/": "local",
    "http://metadata.google.internal/computeMetadata/v1/": "local",
    "http://db.internal/": "local",
    "http://router.home.arpa/": "local",
    "http://intranet/": "local",
    "http://1.0.0.127.in-addr.arpa/": "local",
    # not a valid host
    "http://1.2.3.999/": "not a valid IPv4",
    "http://1.2.3.4.5/": "not a valid IPv4",
    "http://0x1g.0.0.1/": "not a valid IPv4",
    "http://127%2e0%2e0%2e1/": "not valid",
    "http://[::1/": "not a valid URL",
    "http://[not-ipv6]/": "not a valid URL",
    "http://[fe80::1%25eth0]/": "public address",
    "http://exa mple.com/": "spaces or control",
    "http://example.com/\x00": "spaces or control",
    "http://example.com:99999/": "not a valid URL",
    "http://example.com:0/": "invalid port",
    # credentials, schemes, shapes
    "http://user:pass@example.com/": "credentials",
    "http://user@example.com/": "credentials",
    "http://example.com@127.0.0.1/": "credentials",
    "ftp://example.com/x": "http or https",
    "file:///etc/passwd": "http or https",
    "gopher://example.com/": "http or https",
    "javascript:alert(1)": "http or https",
    "//example.com/x": "http or https",
    "http:///path-only": "with a host",
    "https://" + "a" * 2050 + ".com/": "at most 2048",
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_urls_are_accepted(url):
    assert check_public_url(url) == url.strip()


@pytest.mark.parametrize(("url", "reason"), list(REFUSED.items()))
def test_non_public_urls_are_refused_naming_the_field(url, reason):
    with pytest.raises(Invalid) as caught:
        check_public_url(url)
    assert caught.value.description.startswith("source_url: ")
    assert reason in caught.value.description


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
