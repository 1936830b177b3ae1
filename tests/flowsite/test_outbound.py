"""Tests for flowsite.outbound, the SSRF-guarded HTTP client.

Everything here talks only to real servers on 127.0.0.1; names like "receiver.test" are resolved by a
stubbed ``resolve_host`` and never reach DNS. Non-loopback addresses are only ever *checked*, never sent to.
"""

from __future__ import annotations

import datetime
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from flowsite import outbound
from flowsite.outbound import (
    OutboundError,
    OutboundResponse,
    check_url,
    is_address_allowed,
    redact_headers,
    redact_text,
    send,
    validate_header,
)
from tests.receivers import (
    ReceivedRequest,
    Receiver,
    Reply,
    close_without_reply,
    hang,
    redirect,
    reset_connection,
    trickle,
)

# --------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def allow_loopback(settings) -> None:
    # ::1 too, because /etc/hosts may map localhost to both.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def only_other_loopback(settings) -> None:
    # Loopback as a whole stays forbidden; only an address nothing listens on is allowed.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]


class _Table(dict):
    calls: list[tuple[str, int]]


@pytest.fixture
def dns(monkeypatch) -> _Table:
    """A fake resolver: fill the returned dict with name -> addresses; ``.calls`` records every lookup."""
    table = _Table()
    table.calls = []

    def fake_resolve(host: str, port: int) -> list[str]:
        table.calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(table[host])

    monkeypatch.setattr(outbound, "resolve_host", fake_resolve)
    return table


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released, never listened)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raises_outbound(kind: str, func, *args, **kwargs) -> OutboundError:
    with pytest.raises(OutboundError) as info:
        func(*args, **kwargs)
    assert info.value.kind == kind, f"expected {kind}, got {info.value.kind}: {info.value.message}"
    return info.value


# --------------------------------------------------------------------------------------------------------------
# Loopback spellings: refused, and nothing reaches the receiver

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "127.0.0.1.",
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "0x7f000001",
    "017700000001",
    "127.1",
    "127.0.1",
    "0.0.0.0",
    "0",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::1]",
    "[::]",
    "[0:0:0:0:0:0:0:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
]


@pytest.mark.usefixtures("only_other_loopback")
@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_spellings_are_refused_before_connecting(receiver: Receiver, host: str) -> None:
    url = f"http://{host}:{receiver.port}/hook"
    err = raises_outbound("refused", send, "POST", url, body=b"payload")
    assert "is not allowed" in err.message
    raises_outbound("refused", check_url, url)
    assert receiver.requests == []
    assert receiver.connections == []


@pytest.mark.usefixtures("only_other_loopback")
def test_refusal_message_says_which_address_and_why(receiver: Receiver) -> None:
    err = raises_outbound("refused", send, "GET", f"http://0x7f.1:{receiver.port}/")
    assert err.message == "address 127.0.0.1 is not allowed (loopback)"
    err = raises_outbound("refused", send, "GET", f"http://[::ffff:127.0.0.1]:{receiver.port}/")
    assert "::ffff:7f00:1" in err.message and "127.0.0.1" in err.message and "loopback" in err.message


@pytest.mark.usefixtures("only_other_loopback")
def test_real_resolver_result_is_checked(receiver: Receiver) -> None:
    # localhost goes through the real getaddrinfo (/etc/hosts); the resolved address is what is judged.
    err = raises_outbound("refused", send, "GET", f"http://localhost:{receiver.port}/")
    assert "localhost" in err.message and ("127.0.0.1" in err.message or "::1" in err.message)
    assert receiver.connections == []


# --------------------------------------------------------------------------------------------------------------
# Allowed loopback: the request arrives exactly


@pytest.mark.usefixtures("allow_loopback")
def test_request_arrives_exactly(receiver: Receiver) -> None:
    receiver.set_response(201, b'{"id": 7}', {"Content-Type": "application/json", "X-Reply": "yes"})
    body = bytes(range(256)) * 4
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Custom-Header": "Value, with; punctuation = and spaces",
        "Authorization": "Bearer abc.def",
        "x-lower-case": "kept",
    }
    response = send("PUT", receiver.url_for("/hooks/abc?x=1&y=%20two"), headers=headers, body=body)

    assert response.status_code == 201 and response.ok
    assert response.json() == {"id": 7}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-reply"] == "yes"
    assert response.truncated is False
    assert response.elapsed_ms > 0
    assert response.address == "127.0.0.1"

    [req] = receiver.requests
    assert req.method == "PUT"
    assert req.path == "/hooks/abc?x=1&y=%20two"
    assert req.body == body
    assert req.headers["Content-Length"] == str(len(body))
    assert req.headers["Host"] == f"127.0.0.1:{receiver.port}"
    for name, value in headers.items():
        assert req.headers[name] == value
    assert ("x-lower-case", "kept") in req.raw_headers  # names are sent as given


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize(
    ("host", "host_header"),
    [
        ("localhost", "localhost"),
        ("LocalHost.", "localhost"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_allowed_spellings_reach_receiver(receiver: Receiver, host: str, host_header: str) -> None:
    response = send("GET", f"http://{host}:{receiver.port}/ping")
    assert response.status_code == 200
    [req] = receiver.requests
    assert req.method == "GET" and req.path == "/ping" and req.body == b""
    assert req.headers["Host"] == f"{host_header}:{receiver.port}"


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "post"])
def test_methods(receiver: Receiver, method: str) -> None:
    receiver.set_response(200, b"hello")
    response = send(method, receiver.url_for("/m"))
    assert receiver.requests[0].method == method.upper()
    assert response.body == (b"" if method == "HEAD" else b"hello")


@pytest.mark.usefixtures("allow_loopback")
def test_post_without_body_sends_zero_length(receiver: Receiver) -> None:
    send("POST", receiver.url_for("/"))
    assert receiver.requests[0].headers["Content-Length"] == "0"


def test_exact_allowlist_entry(settings, receiver: Receiver) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert send("GET", receiver.url_for("/")).ok


@pytest.mark.usefixtures("allow_loopback")
def test_environment_proxy_is_ignored(receiver: Receiver, monkeypatch) -> None:
    # A proxy would resolve the name again on its side, defeating the pin.
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    assert send("GET", receiver.url_for("/direct")).ok
    assert receiver.requests[0].path == "/direct"


@pytest.mark.usefixtures("allow_loopback")
def test_cookies_are_never_replayed(receiver: Receiver) -> None:
    receiver.set_response(200, b"", {"Set-Cookie": "session=abc; Path=/"})
    send("GET", receiver.url_for("/one"))
    send("GET", receiver.url_for("/two"))
    assert [r.path for r in receiver.requests] == ["/one", "/two"]
    assert "Cookie" not in receiver.requests[1].headers


# --------------------------------------------------------------------------------------------------------------
# Address policy without connecting anywhere

REFUSED_ADDRESSES = [
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",
    "127.0.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",
    "192.0.0.8",
    "fd00::1",
    "fc00::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "::1",
    "::",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "64:ff9b::a00:1",
    "64:ff9b:1::1",
    "2002:a00:1::1",
    "2001::1",
    "2001:db8::1",
    "ff02::1",
    "not-an-address",
    "",
]

ALLOWED_ADDRESSES = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_not_allowed(settings, address: str) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    assert is_address_allowed(address) is False


@pytest.mark.parametrize("address", ALLOWED_ADDRESSES)
def test_public_addresses_are_allowed(settings, address: str) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    assert is_address_allowed(address) is True


@pytest.mark.parametrize("address", [a for a in REFUSED_ADDRESSES if a and a != "not-an-address"])
def test_check_url_refuses_names_resolving_to_non_public_addresses(settings, dns: _Table, address: str) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    dns["target.test"] = [address]
    err = raises_outbound("refused", check_url, "https://target.test/path")
    assert "is not allowed" in err.message and "target.test" in err.message
    assert dns.calls == [("target.test", 443)]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:8080/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://0251.0376.0251.0376/",  # 169.254.169.254 in octal
        "http://2852039166/",  # 169.254.169.254 in decimal
    ],
)
def test_check_url_refuses_literal_addresses_without_dns(settings, dns: _Table, url: str) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    raises_outbound("refused", check_url, url)
    assert dns.calls == []


def test_metadata_address_message(settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    err = raises_outbound("refused", check_url, "http://169.254.169.254/latest/meta-data/")
    assert err.message == "address 169.254.169.254 is not allowed (link-local)"


def test_one_private_address_refuses_the_host(settings, dns: _Table) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    dns["mixed.test"] = ["93.184.216.34", "10.0.0.5"]
    err = raises_outbound("refused", check_url, "http://mixed.test/")
    assert "10.0.0.5" in err.message and "private" in err.message


def test_global_name_passes_check_url(settings, dns: _Table) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    dns["public.test"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    assert check_url("https://public.test/hook") == (
        "public.test",
        ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    )
    assert check_url("https://Public.Test./hook")[0] == "public.test"


def test_allowed_networks_open_private_ranges(settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]
    assert is_address_allowed("10.0.0.1")
    assert is_address_allowed("::ffff:10.0.0.1")
    assert is_address_allowed("fd00::1")
    assert not is_address_allowed("192.168.1.1")
    assert not is_address_allowed("169.254.169.254")
    assert check_url("http://10.1.2.3:8000/")[1] == ["10.1.2.3"]


def test_invalid_allowed_network_is_a_configuration_error(settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8", "not-a-network"]
    with pytest.raises(ImproperlyConfigured):
        is_address_allowed("10.0.0.1")


# --------------------------------------------------------------------------------------------------------------
# URL validation


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", 'scheme "file" is not allowed'),
        ("ftp://example.com/", 'scheme "ftp" is not allowed'),
        ("gopher://example.com:70/_x", 'scheme "gopher" is not allowed'),
        ("javascript:alert(1)", 'scheme "javascript" is not allowed'),
        ("dict://127.0.0.1:11211/", 'scheme "dict" is not allowed'),
        ("example.com/hook", "no scheme"),
        ("//example.com/hook", "no scheme"),
        ("http:///path", "no host"),
        ("http://", "no host"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("http://example.com\\@127.0.0.1/", "credentials"),
        ("http://example.com:99999/", "not valid"),
        ("http://example.com:0/", "invalid port"),
        ("http://example.com:abc/", "not valid"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\r\nX-Injected: 1", "control characters"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://[not-ipv6]/", "not valid"),
        ("http://256.0.0.1/", "not a valid one"),
        ("http://1.2.3.4.5/", "not a valid one"),
        ("http://exa$mple.com/", "not a valid domain"),
        ("http://./", "no host"),
        ("", "empty"),
    ],
)
def test_invalid_urls(dns: _Table, url: str, fragment: str) -> None:
    err = raises_outbound("invalid_url", check_url, url)
    assert fragment in err.message
    raises_outbound("invalid_url", send, "GET", url)
    assert dns.calls == []


def test_idn_hosts_are_resolved_in_ascii(settings, dns: _Table) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    dns["xn--bcher-kva.test"] = ["93.184.216.34"]
    assert check_url("https://Bücher.test/") == ("xn--bcher-kva.test", ["93.184.216.34"])


# --------------------------------------------------------------------------------------------------------------
# Pinning


@pytest.mark.usefixtures("allow_loopback")
def test_connection_is_pinned_to_the_checked_address(receiver: Receiver, dns: _Table, monkeypatch) -> None:
    dns["receiver.test"] = ["127.0.0.1"]
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[object] = []

    def guarded_getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        if host == "receiver.test":
            raise AssertionError("second DNS lookup of receiver.test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)

    response = send("POST", f"http://receiver.test:{receiver.port}/pinned", body=b"{}")

    assert response.status_code == 200
    [req] = receiver.requests
    assert req.headers["Host"] == f"receiver.test:{receiver.port}"
    assert req.path == "/pinned"
    assert dns.calls == [("receiver.test", receiver.port)]
    assert "receiver.test" not in lookups


def test_ipv6_literal_reaches_allowed_receiver(settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["::1/128"]
    try:
        receiver = Receiver(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with receiver:
        response = send("POST", f"http://[::1]:{receiver.port}/v6", body=b"six")
        assert response.ok and response.address == "::1"
        [req] = receiver.requests
        assert req.body == b"six" and req.headers["Host"] == f"[::1]:{receiver.port}"
    # The same allowlist must not open IPv4 loopback.
    raises_outbound("refused", check_url, f"http://127.0.0.1:{receiver.port}/")


@pytest.mark.usefixtures("allow_loopback")
def test_name_resolving_to_ipv6_is_pinned_with_brackets(settings, dns: _Table) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["::1/128"]
    try:
        receiver = Receiver(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with receiver:
        dns["six.test"] = ["::1"]
        assert send("GET", f"http://six.test:{receiver.port}/").ok
        assert receiver.requests[0].headers["Host"] == f"six.test:{receiver.port}"


@pytest.mark.usefixtures("allow_loopback")
def test_next_checked_address_is_tried_when_connect_fails(receiver: Receiver, dns: _Table) -> None:
    dns["dual.test"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2
    response = send("GET", f"http://dual.test:{receiver.port}/")
    assert response.ok and response.address == "127.0.0.1"
    assert dns.calls == [("dual.test", receiver.port)]
    assert receiver.requests[0].headers["Host"] == f"dual.test:{receiver.port}"


@pytest.mark.usefixtures("allow_loopback")
def test_all_addresses_failing_to_connect(dns: _Table) -> None:
    port = closed_port()
    dns["dead.test"] = ["127.0.0.2", "127.0.0.1"]
    err = raises_outbound("connect", send, "GET", f"http://dead.test:{port}/")
    assert err.message == f"connection refused by 127.0.0.1:{port}"


@pytest.mark.usefixtures("allow_loopback")
def test_request_is_never_resent_to_another_address_once_sent(dns: _Table) -> None:
    with Receiver(handler=reset_connection) as receiver:
        dns["twice.test"] = ["127.0.0.1", "127.0.0.1"]
        raises_outbound("connection", send, "POST", f"http://twice.test:{receiver.port}/", body=b"once")
        assert len(receiver.requests) == 1


@pytest.mark.usefixtures("allow_loopback")
def test_rebinding_resolver_is_asked_once_per_send(receiver: Receiver, monkeypatch) -> None:
    # First answer passes the check; any later answer would point at the metadata service.
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["127.0.0.1"], ["169.254.169.254"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    monkeypatch.setattr(outbound, "resolve_host", rebinding)
    assert send("GET", f"http://rebind.test:{receiver.port}/").ok
    assert calls == ["rebind.test"]
    raises_outbound("refused", send, "GET", f"http://rebind.test:{receiver.port}/")
    assert calls == ["rebind.test", "rebind.test"]
    assert len(receiver.requests) == 1


# --------------------------------------------------------------------------------------------------------------
# HTTPS: pinned IP, original name for SNI and certificate verification


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Flowsite Test CA"))
        .issuer_name(name("Flowsite Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(name("receiver.test"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("receiver.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": directory / "ca.pem", "cert": directory / "leaf.pem", "key": directory / "leaf.key"}
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest.fixture
def tls_receiver(tls_files: dict[str, Path]) -> Iterator[tuple[Receiver, list[str | None]]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
    with Receiver(ssl_context=context) as r:
        yield r, server_names


@pytest.mark.usefixtures("allow_loopback")
def test_https_uses_original_name_for_sni_and_verification(settings, tls_files, tls_receiver, dns: _Table) -> None:
    receiver, server_names = tls_receiver
    settings.OUTBOUND_CA_BUNDLE = str(tls_files["ca"])
    dns["receiver.test"] = ["127.0.0.1"]

    response = send("POST", f"https://receiver.test:{receiver.port}/secure", body=b"tls body")

    assert response.status_code == 200
    [req] = receiver.requests
    assert req.body == b"tls body"
    assert req.headers["Host"] == f"receiver.test:{receiver.port}"
    assert server_names == ["receiver.test"]
    assert dns.calls == [("receiver.test", receiver.port)]


@pytest.mark.usefixtures("allow_loopback")
def test_https_certificate_must_match_original_name(settings, tls_files, tls_receiver, dns: _Table) -> None:
    receiver, _ = tls_receiver
    settings.OUTBOUND_CA_BUNDLE = str(tls_files["ca"])
    dns["impostor.test"] = ["127.0.0.1"]
    err = raises_outbound("connection", send, "GET", f"https://impostor.test:{receiver.port}/")
    assert "impostor.test" in err.message and "could not be verified" in err.message
    assert receiver.requests == []


@pytest.mark.usefixtures("allow_loopback")
def test_https_untrusted_certificate_is_refused(tls_receiver, dns: _Table) -> None:
    receiver, _ = tls_receiver
    dns["receiver.test"] = ["127.0.0.1"]  # right name, but the test CA is not trusted by default
    err = raises_outbound("connection", send, "GET", f"https://receiver.test:{receiver.port}/")
    assert "could not be verified" in err.message
    assert receiver.requests == []


# --------------------------------------------------------------------------------------------------------------
# Redirects


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_returned_not_followed(status: int) -> None:
    with Receiver(handler=redirect("/elsewhere", status)) as receiver:
        response = send("POST", receiver.url_for("/start"), body=b"x")
        assert response.status_code == status
        assert not response.ok
        assert response.headers["location"] == "/elsewhere"
        assert [r.path for r in receiver.requests] == ["/start"]


@pytest.mark.usefixtures("allow_loopback")
def test_redirect_to_metadata_is_not_followed() -> None:
    with Receiver(handler=redirect("http://169.254.169.254/latest/meta-data/")) as receiver:
        assert send("GET", receiver.url_for("/")).status_code == 302
        assert len(receiver.requests) == 1


# --------------------------------------------------------------------------------------------------------------
# Failures: timeouts, refused and reset connections, DNS


@pytest.mark.usefixtures("allow_loopback")
def test_server_that_never_answers_times_out() -> None:
    with Receiver(handler=hang) as receiver:
        started = time.monotonic()
        err = raises_outbound("timeout", send, "GET", receiver.url_for("/"), total_timeout=0.5)
        elapsed = time.monotonic() - started
    assert err.message == "timed out after 0.5s"
    assert 0.45 <= elapsed < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_trickled_body_hits_total_timeout() -> None:
    with Receiver(handler=trickle(interval=0.1)) as receiver:
        started = time.monotonic()
        err = raises_outbound("timeout", send, "GET", receiver.url_for("/"), total_timeout=0.6)
        elapsed = time.monotonic() - started
    assert "timed out" in err.message
    assert 0.55 <= elapsed < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_trickled_headers_hit_total_timeout() -> None:
    # Each byte arrives well within any per-read timeout; only the total deadline can end this.
    with Receiver(handler=trickle(interval=0.05, in_headers=True)) as receiver:
        started = time.monotonic()
        raises_outbound("timeout", send, "GET", receiver.url_for("/"), connect_timeout=5, total_timeout=0.5)
        elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_stalled_tls_handshake_hits_total_timeout(dns: _Table) -> None:
    # The kernel completes the TCP handshake for a listening socket; nobody ever answers the ClientHello.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        dns["stall.test"] = ["127.0.0.1"]
        started = time.monotonic()
        err = raises_outbound(
            "timeout",
            send,
            "GET",
            f"https://stall.test:{listener.getsockname()[1]}/",
            connect_timeout=5,
            total_timeout=0.5,
        )
        assert err.message == "timed out after 0.5s"
        assert time.monotonic() - started < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_a_short_deadline_fires_behind_longer_ones(receiver: Receiver) -> None:
    # One watchdog thread serves every call: a deadline earlier than those it already sleeps on wakes it.
    send("GET", receiver.url_for("/"), total_timeout=60)
    with Receiver(handler=hang) as hanging:
        started = time.monotonic()
        raises_outbound("timeout", send, "GET", hanging.url_for("/"), total_timeout=0.5)
    assert time.monotonic() - started < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_finished_deadlines_do_not_pile_up(receiver: Receiver) -> None:
    for _ in range(1500):
        send("GET", receiver.url_for("/"), total_timeout=60)
    assert len(outbound._watchdog._heap) <= 1025


@pytest.mark.usefixtures("allow_loopback")
def test_total_timeout_comes_from_settings(settings) -> None:
    settings.OUTBOUND_TOTAL_TIMEOUT = 0.3
    with Receiver(handler=hang) as receiver:
        started = time.monotonic()
        err = raises_outbound("timeout", send, "GET", receiver.url_for("/"))
    assert err.message == "timed out after 0.3s"
    assert time.monotonic() - started < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_slow_reply_within_budget_succeeds() -> None:
    with Receiver() as receiver:
        receiver.set_response(200, b"late", delay=0.2)
        response = send("GET", receiver.url_for("/"), total_timeout=2)
    assert response.body == b"late"
    assert response.elapsed_ms >= 200


@pytest.mark.usefixtures("allow_loopback")
def test_connection_refused() -> None:
    port = closed_port()
    err = raises_outbound("connect", send, "GET", f"http://127.0.0.1:{port}/")
    assert err.message == f"connection refused by 127.0.0.1:{port}"


@pytest.mark.usefixtures("allow_loopback")
def test_connect_timeout(monkeypatch) -> None:
    # A listener with a full accept backlog drops further SYNs, so connect() hangs until its timeout.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        probe = socket.create_connection
        try:
            probe(("127.0.0.1", port), timeout=0.2).close()
            pytest.skip("this network stack does not drop SYNs for a full backlog")
        except OSError:
            pass
        started = time.monotonic()
        err = raises_outbound("timeout", send, "GET", f"http://127.0.0.1:{port}/", connect_timeout=0.3, total_timeout=5)
        assert err.message == f"connecting to 127.0.0.1:{port} timed out after 0.3s"
        assert time.monotonic() - started < 2
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.usefixtures("allow_loopback")
def test_connection_reset() -> None:
    with Receiver(handler=reset_connection) as receiver:
        err = raises_outbound("connection", send, "POST", receiver.url_for("/"), body=b"x")
    assert err.message == f"connection reset by 127.0.0.1:{receiver.port}"


@pytest.mark.usefixtures("allow_loopback")
def test_connection_closed_without_reply() -> None:
    with Receiver(handler=close_without_reply) as receiver:
        err = raises_outbound("connection", send, "GET", receiver.url_for("/"))
    assert "closed before a complete response" in err.message


@pytest.mark.usefixtures("allow_loopback")
def test_body_shorter_than_content_length() -> None:
    def short(req: ReceivedRequest) -> None:
        req.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a few bytes")
        req.wfile.flush()
        req.socket.shutdown(socket.SHUT_RDWR)

    with Receiver(handler=short) as receiver:
        err = raises_outbound("connection", send, "GET", receiver.url_for("/"))
    assert "closed before a complete response" in err.message


@pytest.mark.usefixtures("allow_loopback")
def test_garbage_response() -> None:
    def garbage(req: ReceivedRequest) -> None:
        req.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        req.wfile.flush()

    with Receiver(handler=garbage) as receiver:
        raises_outbound("connection", send, "GET", receiver.url_for("/"))


def test_dns_failure(dns: _Table) -> None:
    err = raises_outbound("dns", send, "GET", "https://nowhere.test/hook")
    assert err.message == "could not resolve host nowhere.test"
    raises_outbound("dns", check_url, "https://nowhere.test/hook")


def test_empty_resolution_is_a_dns_failure(dns: _Table) -> None:
    dns["empty.test"] = []
    raises_outbound("dns", send, "GET", "https://empty.test/")


def test_slow_resolver_counts_against_total_timeout(monkeypatch) -> None:
    release = threading.Event()

    def slow(host: str, port: int) -> list[str]:
        release.wait(5)
        return ["93.184.216.34"]

    monkeypatch.setattr(outbound, "resolve_host", slow)
    started = time.monotonic()
    try:
        err = raises_outbound("timeout", send, "GET", "https://slow-dns.test/", total_timeout=0.3)
    finally:
        release.set()
    assert "slow-dns.test" in err.message
    assert time.monotonic() - started < 1.5


def test_errors_carry_no_traceback_text(dns: _Table) -> None:
    err = raises_outbound("dns", send, "GET", "https://nowhere.test/")
    assert err.__cause__ is None and err.__suppress_context__
    assert "Traceback" not in str(err) and "Error(" not in str(err)


# --------------------------------------------------------------------------------------------------------------
# Response size cap


@pytest.mark.usefixtures("allow_loopback")
def test_large_body_is_truncated_at_cap(receiver: Receiver) -> None:
    receiver.set_response(200, b"a" * (3 * 1024 * 1024))
    response = send("GET", receiver.url_for("/big"), max_bytes=1024 * 1024)
    assert len(response.body) == 1024 * 1024
    assert response.truncated is True
    assert response.status_code == 200


@pytest.mark.usefixtures("allow_loopback")
def test_body_exactly_at_cap_is_not_truncated(receiver: Receiver) -> None:
    receiver.set_response(200, b"b" * 4096)
    response = send("GET", receiver.url_for("/"), max_bytes=4096)
    assert len(response.body) == 4096 and response.truncated is False


@pytest.mark.usefixtures("allow_loopback")
def test_cap_defaults_to_setting(settings, receiver: Receiver) -> None:
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1000
    receiver.set_response(200, b"c" * 5000)
    response = send("GET", receiver.url_for("/"))
    assert response.body == b"c" * 1000 and response.truncated


@pytest.mark.usefixtures("allow_loopback")
def test_endless_chunked_body_is_truncated() -> None:
    def endless(req: ReceivedRequest) -> None:
        try:
            req.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"z" * 8192
            while not req.stopping.is_set():
                req.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass

    with Receiver(handler=endless) as receiver:
        response = send("GET", receiver.url_for("/"), max_bytes=100_000, total_timeout=5)
    assert response.body == b"z" * 100_000 and response.truncated


@pytest.mark.usefixtures("allow_loopback")
def test_compressed_body_is_decoded_and_capped_after_decoding(receiver: Receiver) -> None:
    # Asking for gzip is the caller's choice (the default is identity); the cap applies to decoded bytes,
    # so a small compressed body cannot expand past it.
    receiver.set_response(200, gzip.compress(b"e" * 500_000), {"Content-Encoding": "gzip"})
    response = send("GET", receiver.url_for("/"), headers={"Accept-Encoding": "gzip"}, max_bytes=1000)
    assert response.body == b"e" * 1000 and response.truncated
    assert receiver.requests[0].headers["Accept-Encoding"] == "gzip"
    receiver.set_response(200, gzip.compress(b"small"), {"Content-Encoding": "gzip"})
    assert send("GET", receiver.url_for("/"), headers={"Accept-Encoding": "gzip"}).body == b"small"


def test_default_request_headers(settings, receiver: Receiver) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    send("GET", receiver.url_for("/"))
    headers = receiver.requests[0].headers
    assert headers["Accept-Encoding"] == "identity"
    assert headers["User-Agent"].startswith("Flowsite")
    assert "Cookie" not in headers and "Authorization" not in headers


@pytest.mark.usefixtures("allow_loopback")
def test_truncated_connection_is_not_reused(receiver: Receiver) -> None:
    receiver.set_response(200, b"d" * 200_000)
    assert send("GET", receiver.url_for("/1"), max_bytes=10).truncated
    receiver.set_response(200, b"small")
    assert send("GET", receiver.url_for("/2")).body == b"small"
    assert len(receiver.wait_for_connections(2)) == 2


# --------------------------------------------------------------------------------------------------------------
# Keep-alive


@pytest.mark.usefixtures("allow_loopback")
def test_sequential_calls_reuse_one_connection(receiver: Receiver) -> None:
    receiver.set_response(200, b"ok")
    for i in range(3):
        assert send("POST", receiver.url_for(f"/call/{i}"), body=b"{}").body == b"ok"
    assert len(receiver.requests) == 3
    assert len(receiver.connections) == 1
    assert len({r.client for r in receiver.requests}) == 1


@pytest.mark.usefixtures("allow_loopback")
def test_connection_reuse_after_non_2xx_and_redirect(receiver: Receiver) -> None:
    receiver.set_response(500, b"boom")
    assert send("GET", receiver.url_for("/a")).status_code == 500
    receiver.set_response(302, b"", {"Location": "/x"})
    assert send("GET", receiver.url_for("/b")).status_code == 302
    assert len(receiver.connections) == 1


@pytest.mark.usefixtures("allow_loopback")
def test_pooled_connection_closed_by_server_is_replaced(receiver: Receiver) -> None:
    receiver.set_response(200, b"1", {"Connection": "close"})
    send("GET", receiver.url_for("/"))
    receiver.set_response(200, b"2")
    assert send("GET", receiver.url_for("/")).body == b"2"


@pytest.mark.usefixtures("allow_loopback")
def test_each_thread_has_its_own_session(receiver: Receiver) -> None:
    results: list[int] = []

    def worker() -> None:
        results.append(send("GET", receiver.url_for("/t")).status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [200] * 4


# --------------------------------------------------------------------------------------------------------------
# Headers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Api-Key", "abc123"),
        ("Authorization", "Bearer a.b.c"),
        ("x-custom_header!#$%&'*+-.^`|~", "v"),
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Tab", "a\tb"),
        ("X-Empty", ""),
        ("X-Unicode", "Grüße"),
    ],
)
def test_valid_headers(name: str, value: str) -> None:
    validate_header(name, value)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("X-Test", "a\r\nX-Injected: 1", "CR, LF, NUL"),
        ("X-Test", "a\rb", "CR, LF, NUL"),
        ("X-Test", "a\nb", "CR, LF, NUL"),
        ("X-Test", "a\x00b", "CR, LF, NUL"),
        ("X-Test", "a\x1bb", "control"),
        ("X Test", "secret-value", "not valid"),
        ("X-Test:", "secret-value", "not valid"),
        ("", "secret-value", "not valid"),
        ("X-Test\r\n", "secret-value", "not valid"),
        ("Grüße", "secret-value", "not valid"),
        ("(comment)", "secret-value", "not valid"),
        ("Host", "evil.example", "set automatically"),
        ("content-length", "5", "set automatically"),
        ("Transfer-Encoding", "chunked", "set automatically"),
    ],
)
def test_invalid_headers(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_header(name, value)
    assert fragment in str(info.value)
    assert value not in str(info.value)


def test_non_string_header_value() -> None:
    with pytest.raises(ValueError):
        validate_header("X-Number", 5)  # type: ignore[arg-type]


@pytest.mark.usefixtures("allow_loopback")
def test_send_refuses_bad_headers_before_connecting(receiver: Receiver) -> None:
    err = raises_outbound(
        "invalid_header", send, "GET", receiver.url_for("/"), headers={"X-Token": "s3cret\r\nX-Evil: 1"}
    )
    assert "X-Token" in err.message and "s3cret" not in err.message
    raises_outbound("invalid_header", send, "GET", receiver.url_for("/"), headers={"Bad Name": "v"})
    raises_outbound("invalid_header", send, "GET", receiver.url_for("/"), headers={"Host": "other.test"})
    assert receiver.connections == []


@pytest.mark.usefixtures("allow_loopback")
def test_header_values_are_trimmed_and_unicode_is_sent_as_utf8(receiver: Receiver) -> None:
    send("GET", receiver.url_for("/"), headers={"X-Padded": "  value  ", "X-Unicode": "Grüße ✓"})
    req = receiver.requests[0]
    assert req.headers["X-Padded"] == "value"
    # http.server decodes header bytes as latin-1; re-encode to compare the bytes that were sent.
    assert req.headers["X-Unicode"].encode("latin-1") == "Grüße ✓".encode()


def test_invalid_method(receiver: Receiver) -> None:
    raises_outbound("invalid_request", send, "GET /x HTTP/1.1\r\n", receiver.url_for("/"))
    raises_outbound("invalid_request", send, "", receiver.url_for("/"))
    assert receiver.connections == []


# --------------------------------------------------------------------------------------------------------------
# Secrets


def test_redact_headers() -> None:
    headers = {
        "Authorization": "Bearer a",
        "proxy-authorization": "Basic b",
        "Cookie": "c=1",
        "Set-Cookie": "d=2",
        "X-Api-Key": "e",
        "Api-Key": "f",
        "X-Auth-Token": "g",
        "X-Client-Secret": "h",
        "X-Password": "i",
        "X-Hub-Signature-256": "sha256=j",
        "Private-KEY": "k",
        "X-Stripe-Custom": "l",
        "Content-Type": "application/json",
        "Accept": "*/*",
    }
    redacted = redact_headers(headers, secret_names=["x-stripe-custom"])
    assert redacted == {
        **{name: "[redacted]" for name in headers},
        "Content-Type": "application/json",
        "Accept": "*/*",
    }
    assert headers["Authorization"] == "Bearer a"  # the input is not modified
    assert redact_headers(None) == {}


def test_redact_text() -> None:
    text = "token=abc123 and again abc123; long=abc123XYZ; empty stays"
    assert redact_text(text, ["abc123", "abc123XYZ", ""]) == (
        "token=[redacted] and again [redacted]; long=[redacted]; empty stays"
    )
    assert redact_text("nothing here", []) == "nothing here"


def test_refusal_never_mentions_header_values(settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    secret = "Bearer sk_live_very_secret_value"
    err = raises_outbound(
        "refused",
        send,
        "POST",
        "http://169.254.169.254/latest/meta-data/?token=query-secret",
        headers={"Authorization": secret, "X-Signature": "sig-secret"},
        body=b"body-secret",
    )
    for text in (str(err), repr(err), err.message):
        for leaked in (secret, "sk_live", "query-secret", "sig-secret", "body-secret"):
            assert leaked not in text


@pytest.mark.usefixtures("allow_loopback")
def test_transport_errors_never_mention_request_data() -> None:
    port = closed_port()
    err = raises_outbound(
        "connect",
        send,
        "GET",
        f"http://127.0.0.1:{port}/path-secret?token=query-secret",
        headers={"Authorization": "Bearer header-secret"},
    )
    for leaked in ("path-secret", "query-secret", "header-secret"):
        assert leaked not in str(err) and leaked not in repr(err)
    assert err.__cause__ is None and err.__suppress_context__


# --------------------------------------------------------------------------------------------------------------
# Response object


def test_response_helpers() -> None:
    ok = OutboundResponse(204, {}, b"", False, 1.0)
    assert ok.ok and ok.text() == "" and ok.json() is None
    bad = OutboundResponse(404, {}, b'{"error": "nope"}', False, 1.0)
    assert not bad.ok and bad.json() == {"error": "nope"}
    assert OutboundResponse(302, {}, b"", False, 1.0).ok is False
    assert OutboundResponse(200, {}, b"\xff\xfeabc", False, 1.0).text() == "\ufffd\ufffdabc"
    assert OutboundResponse(200, {}, b"\xff{", False, 1.0).json() is None


def test_receiver_helper_records_everything() -> None:
    seen: list[str] = []

    def handler(req: ReceivedRequest) -> Reply:
        seen.append(req.path)
        return Reply(418, b"teapot", {"X-Kind": "tea"})

    with Receiver(handler=handler) as receiver:
        sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=5)
        sock.sendall(b"PURGE /cache HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        reply = b""
        while b"teapot" not in reply:
            reply += sock.recv(4096)
        sock.close()
        [req] = receiver.wait_for_requests(1)
    assert reply.startswith(b"HTTP/1.1 418")
    assert req.method == "PURGE" and req.body == b"abc" and seen == ["/cache"]
