"""ARP extractor (RFC 826, RFC 5227): Frame (EtherType 0x0806) → Observation of a sender.

The sender hardware/protocol address pair is what the device claims for itself; the
observation is keyed on the sender hardware address (not the Ethernet source, which a
proxy or a spoofer may set differently, kept as `eth_src` when it differs).
"""

from __future__ import annotations

import socket
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import flow_of
from capture.frame import ETH_P_ARP, ETH_P_IP, Frame
from capture.observation import FactValue, Flow, Observation, Role

NAME = "arp"
ETHERTYPES = frozenset({ETH_P_ARP})
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

_FIXED = struct.Struct("!HHBBH")
_OPS = {1: "request", 2: "reply"}
HTYPE_ETHERNET = 1
UNSPECIFIED = "0.0.0.0"


def wants(frame: Frame) -> bool:
    return False


def _mac(raw: bytes) -> str:
    return raw.hex(":")


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    if len(data) < 28:
        raise DecodeError("arp_truncated")
    htype, ptype, hlen, plen, op = _FIXED.unpack_from(data, 0)
    if htype != HTYPE_ETHERNET or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        raise DecodeError("arp_not_ethernet_ipv4")
    if op not in _OPS:
        raise DecodeError("arp_opcode")
    sha = _mac(data[8:14])
    spa = socket.inet_ntoa(data[14:18])
    tpa = socket.inet_ntoa(data[24:28])
    facts: dict[str, FactValue] = {
        "op": _OPS[op],
        "sender_ip": spa,
        "target_ip": tpa,
        # RFC 5227 §3: an announcement has sender and target address equal
        "gratuitous": spa == tpa and spa != UNSPECIFIED,
        # RFC 5227 §2.1.1: a probe has an all-zero sender address
        "probe": spa == UNSPECIFIED,
    }
    if op == 2:
        facts["target_mac"] = _mac(data[18:24])
    if frame.src_mac and frame.src_mac.lower() != sha:
        facts["eth_src"] = frame.src_mac.lower()
    base = flow_of(frame, NAME)
    flow = Flow(proto=NAME, src_ip=spa, src_port=None, dst_ip=tpa, dst_port=base.dst_port)
    return [
        Observation(
            at=frame.at,
            mac=sha,
            ip=None if spa == UNSPECIFIED else spa,
            vlan=frame.vlan,
            protocol=NAME,
            role=Role.PEER,
            facts=facts,
            flow=flow,
        )
    ]
