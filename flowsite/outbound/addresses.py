"""Address policy: which IP addresses Flowsite may connect to."""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from flowsite.outbound.errors import OutboundError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked explicitly (in addition to Python's is_global) because ipaddress' notion of "global" changed
# between Python releases and misses several of these (e.g. 64:ff9b::/96, 2002::/16, ::/96 on 3.11).
_BLOCKED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("0.0.0.0/8"), "unspecified / this network"),
    (_V4("10.0.0.0/8"), "private network"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private network"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private network"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/8"), "reserved (includes IPv4-compatible addresses)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/23"), "IETF protocol assignments (includes Teredo)"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "SRv6"),
    (_V6("fc00::/7"), "unique local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64 = _V6("64:ff9b::/96")


def _parse_address(address: str) -> IPAddress | None:
    try:
        # getaddrinfo reports link-local IPv6 with a "%zone"; the zone does not change the verdict.
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address actually reaches (IPv4-mapped, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=8)
def _parse_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {entry!r} is not a valid network") from None
    return tuple(networks)


def _allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    entries = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", None) or ()
    if isinstance(entries, str):
        entries = [part for part in entries.split(",") if part.strip()]
    return _parse_networks(tuple(entries))


def _in_allowed_networks(ip: IPAddress) -> bool:
    candidates = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    return any(c.version == net.version and c in net for c in candidates for net in _allowed_networks())


def _refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None if it is one."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        # ::ffff:a.b.c.d and 64:ff9b::a.b.c.d connect to a.b.c.d, so that is what must be judged.
        inner = _refusal_reason(embedded)
        return None if inner is None else f"embeds {embedded}: {inner}"
    if ip.version == 6 and ip.sixtofour is not None:
        inner = _refusal_reason(ip.sixtofour)
        if inner is not None:
            return f"6to4 address embedding {ip.sixtofour}: {inner}"
    for network, reason in _BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "not a public address"
    return None


def is_address_allowed(address: str) -> bool:
    """True if Flowsite may connect to this IP address (a string; anything unparsable is refused)."""
    ip = _parse_address(address)
    if ip is None:
        return False
    return _in_allowed_networks(ip) or _refusal_reason(ip) is None


def check_address(address: str, host: str, literal: bool) -> None:
    ip = _parse_address(address)
    if ip is None:
        raise OutboundError("refused", f"host {host} resolved to an unusable address")
    if _in_allowed_networks(ip):
        return
    reason = _refusal_reason(ip)
    if reason is None:
        return
    source = "" if literal else f", resolved from host {host}"
    raise OutboundError("refused", f"address {ip} is not allowed ({reason}{source})")
