"""SLP extractor (RFC 2165 SLPv1, RFC 2608 SLPv2): Frame (UDP/TCP 427) → Observation.

Printers announce themselves over SLP: a service reply or registration carries the
service URL, an attribute reply the attribute list, which for HP printers includes the
IEEE 1284 device id (MFG, MDL, FWVER...). Attributes become `attr.<name>` facts with the
name lower-cased (RFC 2608 §5: attribute tags are case-insensitive); the keys of an
embedded IEEE 1284 id are added the same way (attr.mdl, attr.fwver) when not already set.
Requests are the sender looking for a service.
"""

from __future__ import annotations

import re
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "slp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({427})
TCP_PORTS = frozenset({427})
SCAPY = False

FUNCTIONS = {
    1: "srvrqst",
    2: "srvrply",
    3: "srvreg",
    4: "srvdereg",
    5: "srvack",
    6: "attrrqst",
    7: "attrrply",
    8: "daadvert",
    9: "srvtyperqst",
    10: "srvtyperply",
    11: "saadvert",
}
_CLIENT_FUNCTIONS = frozenset({1, 6, 9})
MAX_ATTRIBUTES = 48
MAX_ATTR_NAME = 64
_ATTRIBUTE = re.compile(rb"\(([^()=]{1,64})=([^()]*)\)|\(([^()=]{1,64})\)|([^(),]{1,64})")
_IEEE1284_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,31}$")


def wants(frame: Frame) -> bool:
    return False


class _Reader:
    """Bounds-checked big-endian reads over one SLP message."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def u16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise DecodeError("slp_truncated")
        value: int = struct.unpack_from("!H", self.data, self.pos)[0]
        self.pos += 2
        return value

    def skip(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise DecodeError("slp_truncated")
        self.pos += count

    def string(self) -> bytes:
        length = self.u16()
        start = self.pos
        self.skip(length)
        return self.data[start : self.pos]


def _header(data: bytes) -> tuple[int, int, int]:
    """(version, function, offset of the message body) of an SLPv1 or SLPv2 header."""
    if len(data) < 12:
        raise DecodeError("slp_truncated")
    version, function = data[0], data[1]
    if function not in FUNCTIONS:
        raise DecodeError("slp_function")
    if version == 1:  # RFC 2165 §7: fixed 12-byte header
        return version, function, 12
    if version == 2:  # RFC 2608 §8: 14 bytes, then the language tag
        if len(data) < 14:
            raise DecodeError("slp_truncated")
        return version, function, 14 + struct.unpack_from("!H", data, 12)[0]
    raise DecodeError("slp_version")


def _ieee1284(value: str, facts: dict[str, FactValue], ctx: ExtractContext) -> None:
    """Keys of an IEEE 1284 device id ("MFG:HP;MDL:LaserJet;...") as attr.<key>."""
    for part in value.split(";")[:MAX_ATTRIBUTES]:
        key, sep, field = part.partition(":")
        key = key.strip()
        if sep and _IEEE1284_KEY.match(key):
            facts.setdefault(f"attr.{key.lower()}", clean_text(field, ctx.text_max_bytes))


def _attributes(raw: bytes, facts: dict[str, FactValue], ctx: ExtractContext) -> None:
    facts["attributes"] = clean_text(raw, ctx.text_max_bytes)
    for count, match in enumerate(_ATTRIBUTE.finditer(raw)):
        if count >= MAX_ATTRIBUTES:
            break
        name_raw = match.group(1) or match.group(3) or match.group(4)
        name = clean_text(name_raw, MAX_ATTR_NAME).lower()
        if not name:
            continue
        if match.group(1) is None:  # keyword attribute: present, no value
            facts.setdefault(f"attr.{name}", True)
            continue
        value = clean_text(match.group(2), ctx.text_max_bytes)
        facts.setdefault(f"attr.{name}", value)
        if "MDL:" in value or "MFG:" in value:
            _ieee1284(value, facts, ctx)


def _url_entry(reader: _Reader, version: int) -> bytes:
    if version == 2:
        reader.skip(1)  # reserved
    reader.skip(2)  # lifetime
    url = reader.string()
    if version == 2:
        auths = reader.data[reader.pos] if reader.pos < len(reader.data) else 0
        reader.skip(1)
        for _ in range(auths):  # RFC 2608 §9.2: block descriptor, length covers the block
            start = reader.pos
            reader.skip(2)
            length = reader.u16()
            reader.pos = start
            reader.skip(max(length, 4))
    return url


def _body(
    version: int, function: int, reader: _Reader, facts: dict[str, FactValue], ctx: ExtractContext
) -> None:
    if function == 7:  # AttrRply: error code, attribute list
        facts["error"] = reader.u16()
        _attributes(reader.string(), facts, ctx)
    elif function == 2:  # SrvRply: error code, URL count, URL entries
        facts["error"] = reader.u16()
        if reader.u16():
            facts["service_url"] = clean_text(_url_entry(reader, version), ctx.text_max_bytes)
    elif function == 3:  # SrvReg: URL entry, (v2: service type, scopes,) attribute list
        facts["service_url"] = clean_text(_url_entry(reader, version), ctx.text_max_bytes)
        if version == 2:
            reader.string()
            reader.string()
        _attributes(reader.string(), facts, ctx)
    elif function in (8, 11) and version == 2:  # DAAdvert / SAAdvert
        if function == 8:
            reader.skip(6)  # error code, boot timestamp
        facts["service_url"] = clean_text(reader.string(), ctx.text_max_bytes)
        reader.string()  # scope list
        _attributes(reader.string(), facts, ctx)
    elif function == 1:  # SrvRqst: previous responders, service type (v2) or predicate (v1)
        reader.string()
        facts["service_type"] = clean_text(reader.string(), ctx.text_max_bytes)
    elif function == 6:  # AttrRqst: previous responders, URL
        reader.string()
        facts["service_url"] = clean_text(reader.string(), ctx.text_max_bytes)


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    if frame.is_tcp and not data:
        return []
    version, function, offset = _header(data)
    facts: dict[str, FactValue] = {"version": version, "function": FUNCTIONS[function]}
    _body(version, function, _Reader(data, offset), facts, ctx)
    role = Role.CLIENT if function in _CLIENT_FUNCTIONS else Role.ANNOUNCER
    return [observe(frame, NAME, role, facts)]
