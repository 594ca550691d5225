"""ICMPv6 Neighbor Discovery extractor (RFC 4861, RFC 4862): Frame (ICMPv6 133-136) → Observation.

ND is often the only trace an IPv6-only device leaves: router and neighbour solicitations
and advertisements give its addresses, and duplicate address detection (a solicitation
from ::, RFC 4862 §5.4) announces an address before the device uses it. Router
advertisements give the router and the on-link prefixes.
"""

from __future__ import annotations

import socket
from dataclasses import replace

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import observe
from capture.frame import IPPROTO_ICMPV6, Frame
from capture.observation import FactValue, Observation, Role

NAME = "icmpv6_nd"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

RS, RA, NS, NA = 133, 134, 135, 136
KINDS = {RS: "rs", RA: "ra", NS: "ns", NA: "na"}
_OPTIONS_AT = {RS: 8, RA: 16, NS: 24, NA: 24}  # fixed part, ICMPv6 header included
OPT_SOURCE_LLA, OPT_TARGET_LLA, OPT_PREFIX = 1, 2, 3
NA_ROUTER = 0x80
MAX_OPTIONS = 16
UNSPECIFIED = "::"


def wants(frame: Frame) -> bool:
    return frame.ip_proto == IPPROTO_ICMPV6 and frame.icmp_type in KINDS


def _options(data: bytes, pos: int, facts: dict[str, FactValue]) -> None:
    prefixes: list[str] = []
    for _ in range(MAX_OPTIONS):
        if pos >= len(data):
            break
        if pos + 2 > len(data):
            raise DecodeError("nd_option_truncated")
        kind, units = data[pos], data[pos + 1]
        end = pos + 8 * units
        if units == 0 or end > len(data):  # RFC 4861 §4.6: length 0 is invalid
            raise DecodeError("nd_option_length")
        if kind in (OPT_SOURCE_LLA, OPT_TARGET_LLA) and units == 1:
            facts["lladdr"] = data[pos + 2 : pos + 8].hex(":")
        elif kind == OPT_PREFIX and units == 4:
            length = data[pos + 2]
            prefix = socket.inet_ntop(socket.AF_INET6, data[pos + 16 : pos + 32])
            prefixes.append(f"{prefix}/{length}")
        pos = end
    if prefixes:
        facts["prefixes"] = tuple(prefixes)


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    kind = data[0] if data else None
    if kind not in KINDS:
        raise DecodeError("nd_type")
    if len(data) < _OPTIONS_AT[kind]:
        raise DecodeError("nd_truncated")
    facts: dict[str, FactValue] = {"kind": KINDS[kind], "router": kind == RA}
    ip = frame.src_ip
    if kind in (NS, NA):
        target = socket.inet_ntop(socket.AF_INET6, data[8:24])
        facts["target"] = target
        if kind == NA:
            facts["router"] = bool(data[4] & NA_ROUTER)
        elif frame.src_ip == UNSPECIFIED:
            facts["dad"] = True  # RFC 4862 §5.4.2: the target is the sender's tentative address
            ip = target
    if kind == RA:
        facts["managed"] = bool(data[5] & 0x80)
        facts["other_config"] = bool(data[5] & 0x40)
    _options(data, _OPTIONS_AT[kind], facts)
    obs = observe(frame, NAME, Role.PEER, facts, ip=ip)
    return [replace(obs, ip=None) if ip in (None, UNSPECIFIED) else obs]
