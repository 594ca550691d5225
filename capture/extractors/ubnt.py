"""Ubiquiti discovery (UDP 10001): Frame → Observation (the device's product, model, firmware).

UniFi access points, switches and gateways, airMAX radios and UniFi cameras answer a 4-byte
inquiry (01 00 00 00) sent to UDP port 10001, broadcast or unicast, and also announce
themselves there unasked (to 255.255.255.255 or 233.89.188.1). A message starts with a
version byte (1 or 2), a command byte and a 2-byte big-endian length of what follows: a run
of TLVs, each a type byte, a 2-byte big-endian length and the value. Type numbers as
Wireshark's UBDP dissector names them: 1 MAC, 2 MAC + IPv4, 3 full firmware string
("AirCam.GM8126.v3.1.4.39.7e42364.160301.0153"), 10 uptime, 11 host name, 12 product code
("U7PG2", "AirCam"), 13 ESSID, 20 type, 21 model ("UAP-AC-Pro-Gen2"), 22 firmware version.

Facts. Server (a reply or announcement from port 10001): `firmware_full`, `hostname`,
`product`, `model`, `firmware`, `essid` (text), `mac_in_reply` (the first MAC, lower case
with colons). Client (the 4-byte inquiry): `query` (true).
"""

from __future__ import annotations

import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "ubnt"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
PORT = 10001
UDP_PORTS = frozenset({PORT})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

VERSIONS = (1, 2)
TLVS_MAX = 64
TLV_HW_ADDR, TLV_HW_IP_ADDR = 0x01, 0x02
_TEXT = {0x03: "firmware_full", 0x0B: "hostname", 0x0C: "product", 0x0D: "essid", 0x15: "model",
         0x16: "firmware"}  # fmt: skip
_HEADER = struct.Struct("!BBH")
_TLV = struct.Struct("!BH")


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """The device's self-description, or the inquiry of a controller; [] for other traffic."""
    data = frame.payload
    if len(data) < _HEADER.size or data[0] not in VERSIONS:
        return []  # another protocol on the port
    _version, _command, length = _HEADER.unpack_from(data)
    if length == 0:
        if frame.dst_port == PORT and len(data) == _HEADER.size:
            return [observe(frame, NAME, Role.CLIENT, {"query": True})]
        return []
    if frame.src_port != PORT:
        return []  # not a device speaking from the discovery port
    if _HEADER.size + length > len(data):
        raise DecodeError("ubnt_length")
    facts: dict[str, FactValue] = {}
    off, end = _HEADER.size, _HEADER.size + length
    for _ in range(TLVS_MAX):
        if off >= end:
            break
        if off + _TLV.size > end:
            raise DecodeError("ubnt_tlv_truncated")
        kind, size = _TLV.unpack_from(data, off)
        value = data[off + _TLV.size : off + _TLV.size + size]
        if off + _TLV.size + size > end:
            raise DecodeError("ubnt_tlv_truncated")
        off += _TLV.size + size
        if kind in (TLV_HW_ADDR, TLV_HW_IP_ADDR) and size >= 6:
            facts.setdefault("mac_in_reply", value[:6].hex(":"))
        elif kind in _TEXT and value:
            text = clean_text(value, ctx.text_max_bytes)
            if text:
                facts.setdefault(_TEXT[kind], text)
    if not facts:
        return []
    return [observe(frame, NAME, Role.SERVER, facts)]
