"""Observation: one frozen fact a packet states about a device.

Extractors turn a Frame into Observations; the Inventory merges them into DeviceRecords.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

# A fact value is JSON-friendly: str, int, float, bool, None, or a tuple of those.
FactValue = str | int | float | bool | None | tuple["FactValue", ...]


class Role(StrEnum):
    """Which side of an exchange the observed device was on."""

    CLIENT = "client"  # it asked (DHCP client, HTTP client, SNMP manager, TLS client)
    SERVER = "server"  # it answered or serves (HTTP server, SNMP agent, Telnet/RFB server)
    ANNOUNCER = "announcer"  # it announced itself (mDNS answer, SSDP NOTIFY, LLDP, CDP)
    PEER = "peer"  # neither (ARP, NTP symmetric, a bare TCP SYN)


@dataclass(frozen=True, slots=True)
class Flow:
    """The 5-tuple of the packet an observation came from (evidence for findings)."""

    proto: str  # "tcp" | "udp" | "icmp" | "icmpv6" | "arp" | "lldp" | "cdp" | ...
    src_ip: str | None
    src_port: int | None
    dst_ip: str | None
    dst_port: int | None
    # IPv4 TTL / IPv6 hop limit as received (None for non-IP frames): whether a router
    # decremented it tells an on-link sender from one reached through a router.
    ttl: int | None = None

    def __str__(self) -> str:
        if self.src_port is None:
            return f"{self.proto} {self.src_ip} -> {self.dst_ip}"
        return f"{self.proto} {self.src_ip}:{self.src_port} -> {self.dst_ip}:{self.dst_port}"


def _frozen(facts: Mapping[str, FactValue]) -> Mapping[str, FactValue]:
    return MappingProxyType(dict(facts))


@dataclass(frozen=True, slots=True)
class Observation:
    """What one packet says about one device.

    Attributes:
        at: packet time, UTC epoch seconds.
        mac: the device's MAC, lowercase aa:bb:cc:dd:ee:ff, or None when unknown
            (captures without a link layer, a device on another subnet).
        ip: the device's IP address as text, or None.
        vlan: the 802.1Q VLAN id of the frame, or None when untagged.
        protocol: the extractor's name ("dhcp", "mdns", "telnet", ...).
        role: which side of the exchange the device was on.
        facts: what the packet states, e.g. {"hostname": "tv", "param_list": (1, 3, 6)}.
            Keys are documented per extractor module; values are FactValue.
        flow: the packet's 5-tuple, kept as evidence.
    """

    at: float
    mac: str | None
    ip: str | None
    vlan: int | None
    protocol: str
    role: Role = Role.PEER
    facts: Mapping[str, FactValue] = field(default_factory=lambda: MappingProxyType({}))
    flow: Flow | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.facts, MappingProxyType):
            object.__setattr__(self, "facts", _frozen(self.facts))

    def fact(self, key: str, default: FactValue = None) -> FactValue:
        return self.facts.get(key, default)
