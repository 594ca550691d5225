"""CDP extractor (Cisco Discovery Protocol v1/v2): Frame (802.3 LLC/SNAP) → Observation.

CDP rides in 802.3 frames to 01:00:0c:cc:cc:cc with LLC AA-AA-03 and SNAP OUI 00-00-0C,
protocol 0x2000. The TLVs name the device, its platform (model), software version,
capabilities and, for phones, the voice VLAN they ask for.

Parsed with struct: a 4-byte header then flat type/length/value TLVs, cheaper and easier to
bound than scapy.contrib.cdp; the layout follows Cisco's published CDP TLV definitions.
"""

from __future__ import annotations

import socket
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "cdp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = True
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

SNAP_CDP = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00"
MAX_TLVS = 64
MAX_ADDRESSES = 8
CAPABILITIES = (
    (0x001, "router"),
    (0x002, "trans_bridge"),
    (0x004, "source_route_bridge"),
    (0x008, "switch"),
    (0x010, "host"),
    (0x020, "igmp"),
    (0x040, "repeater"),
    (0x080, "phone"),
    (0x100, "remote_managed"),
    (0x200, "camera"),
    (0x400, "mac_relay"),
)
_TEXT_TLVS = {
    0x01: "device_id",
    0x03: "port_id",
    0x05: "software_version",
    0x06: "platform",
    0x09: "vtp_domain",
}
_NLPID_IP = b"\xcc"
_IPV6_8022 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"


def wants(frame: Frame) -> bool:
    return False


def _addresses(value: bytes) -> list[str]:
    """Addresses TLV: count, then (protocol type, protocol length, protocol, length, address)."""
    if len(value) < 4:
        raise DecodeError("cdp_address_truncated")
    count = min(struct.unpack_from("!I", value, 0)[0], MAX_ADDRESSES)
    pos = 4
    out: list[str] = []
    for _ in range(count):
        if pos + 2 > len(value):
            raise DecodeError("cdp_address_truncated")
        plen = value[pos + 1]
        proto = value[pos + 2 : pos + 2 + plen]
        pos += 2 + plen
        if pos + 2 > len(value):
            raise DecodeError("cdp_address_truncated")
        alen = struct.unpack_from("!H", value, pos)[0]
        addr = value[pos + 2 : pos + 2 + alen]
        pos += 2 + alen
        if len(addr) != alen:
            raise DecodeError("cdp_address_truncated")
        if proto == _NLPID_IP and alen == 4:
            out.append(socket.inet_ntop(socket.AF_INET, addr))
        elif proto == _IPV6_8022 and alen == 16:
            out.append(socket.inet_ntop(socket.AF_INET6, addr))
    return out


def _tlv(kind: int, value: bytes, facts: dict[str, FactValue], ctx: ExtractContext) -> None:
    if kind in _TEXT_TLVS:
        facts[_TEXT_TLVS[kind]] = clean_text(value, ctx.text_max_bytes)
    elif kind in (0x02, 0x16):
        addresses = _addresses(value)
        if addresses:
            facts.setdefault("addresses", tuple(addresses))
            facts.setdefault("mgmt_ip", addresses[0])
            if kind == 0x16:
                facts["mgmt_ip"] = addresses[0]
    elif kind == 0x04 and len(value) == 4:
        bits = struct.unpack("!I", value)[0]
        facts["capabilities"] = tuple(name for bit, name in CAPABILITIES if bits & bit)
    elif kind == 0x0A and len(value) == 2:
        facts["native_vlan"] = struct.unpack("!H", value)[0]
    elif kind in (0x0E, 0x0F) and len(value) >= 3:
        # VoIP VLAN reply (from a switch) / query (from a phone): data byte, then VLAN id
        facts["voice_vlan"] = struct.unpack_from("!H", value, 1)[0]
        facts["voice_vlan_query"] = kind == 0x0F
    elif kind == 0x10 and len(value) == 2:
        facts["power_mw"] = struct.unpack("!H", value)[0]


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    if not data.startswith(SNAP_CDP):
        return []  # another LLC protocol (STP, VTP, DTP...)
    pdu = data[len(SNAP_CDP) :]
    if len(pdu) < 4:
        raise DecodeError("cdp_truncated")
    version = pdu[0]
    if version not in (1, 2):
        raise DecodeError("cdp_version")
    facts: dict[str, FactValue] = {"version": version}
    pos = 4
    for _ in range(MAX_TLVS):
        if pos + 4 > len(pdu):
            break  # trailing padding shorter than a TLV header
        kind, length = struct.unpack_from("!HH", pdu, pos)
        if length < 4 or pos + length > len(pdu):
            raise DecodeError("cdp_tlv_length")
        _tlv(kind, pdu[pos + 4 : pos + length], facts, ctx)
        pos += length
    if "device_id" not in facts:
        raise DecodeError("cdp_no_device_id")
    mgmt = facts.get("mgmt_ip")
    return [
        observe(
            frame,
            NAME,
            Role.ANNOUNCER,
            facts,
            ip=mgmt if isinstance(mgmt, str) else None,
            flow_proto=NAME,
        )
    ]
