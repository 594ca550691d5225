"""On-link public addresses: when a public address behind a MAC is that MAC's own.

The inventory normally treats a public address seen behind a MAC as a host reached through
that MAC (a router), never a device. A host with a public address on the local link (a
server LAN, a lab, a capture taken outside a NAT) is the exception, and its packets say so:

- the TTL / hop limit is undecremented. Hosts send with an initial TTL of 64 (Linux, BSD,
  macOS; RFC 1700's default), 128 (Windows) or 255 (network gear, Solaris); RFC 791 §3.2 and
  RFC 1812 §5.3.1 make every router decrement it (RFC 8200 §3 the IPv6 hop limit), so a
  packet forwarded through the gateway never arrives with one of those values;
- the MAC carries that one address and no other: a router forwards many, and a gateway's
  own public address comes from a MAC that also holds its LAN address.

A binding is withdrawn (and never made again for that MAC) when the MAC later sources
another address of the same family, or the same address with a decremented TTL (a NAT box
forwarding its LAN hosts' packets under its own address). Remaining blind spot: a middlebox
that regenerates packets (a transparent proxy, a SYN proxy) for exactly one remote peer from
a MAC whose own address was never observed; see docs/classification.md.

Pure bookkeeping on our own types; the Inventory applies the answers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from capture.observation import Flow

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

INITIAL_TTLS = frozenset({64, 128, 255})
_REFUSED = ("", -1)  # a MAC that carried another address: never bound again


class OnLinkAddresses:
    """At most one on-link public address per MAC, for at most `max_macs` MACs."""

    def __init__(self, max_macs: int) -> None:
        self.max_macs = max_macs
        self.refused_full = 0  # bindings refused because the table was full
        self._bound: dict[str, tuple[str, int]] = {}  # mac -> (address, ttl) or _REFUSED

    def __len__(self) -> int:
        return len(self._bound)

    def bound(self, mac: str) -> str | None:
        """The on-link public address bound to `mac`, if any."""
        state = self._bound.get(mac)
        return state[0] if state is not None and state != _REFUSED else None

    def contradicted(self, mac: str, ip: IPAddress, flow: Flow | None) -> str | None:
        """The bound address to withdraw when this packet from `mac` contradicts it.

        Another source address of the same family (link-local ones aside), or the bound
        address with a TTL no host sends with (forwarded), refuses the MAC from now on.
        """
        bound = self.bound(mac)
        if bound is None or flow is None or flow.src_ip != str(ip) or ip.is_link_local:
            return None
        if ipaddress.ip_address(bound).version != ip.version:
            return None
        if _same_host(bound, ip) and (flow.ttl is None or flow.ttl in INITIAL_TTLS):
            return None
        self._bound[mac] = _REFUSED
        return bound

    def vouch(self, mac: str, ip: IPAddress, flow: Flow | None, held: Iterable[str]) -> bool:
        """True when this packet shows public `ip` as the on-link address of `mac`.

        Args:
            held: the other addresses (or IPv6 /64 prefixes) this MAC has sourced so far.
        """
        state = self._bound.get(mac)
        if state == _REFUSED:
            return False
        if state is not None:
            return state[0] == str(ip)
        if flow is None or flow.src_ip != str(ip) or flow.ttl not in INITIAL_TTLS:
            return False
        if any(not _same_host(other, ip) for other in held if _is_comparable(other, ip)):
            self._bound[mac] = _REFUSED
            return False
        if len(self._bound) >= self.max_macs:
            self.refused_full += 1
            return False
        self._bound[mac] = (str(ip), flow.ttl)
        return True


def _is_comparable(other: str, ip: IPAddress) -> bool:
    """Same family and not link-local (a host's fe80:: address sits next to its global one)."""
    try:
        net = ipaddress.ip_network(other, strict=False)
    except ValueError:
        return False
    return net.version == ip.version and not net.network_address.is_link_local


def _same_host(other: str, ip: IPAddress) -> bool:
    """`other` is `ip` (IPv4), or in the same /64 (IPv6: privacy addresses of one host)."""
    if ip.version == 4:
        return other == str(ip)
    prefix = ipaddress.ip_network(f"{ip}/64", strict=False)
    return ipaddress.ip_network(other, strict=False).network_address in prefix
