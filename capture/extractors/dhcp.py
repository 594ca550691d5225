"""DHCPv4 extractor (RFC 2131, RFC 2132): Frame (UDP 67/68) → Observation.

A client message (BOOTREQUEST) describes the client: the options it sends and their order
are a strong fingerprint (option 55 in order, 60 vendor class, 12 host name...). It is
keyed on chaddr, the client's own MAC, because a relay agent forwards it from the relay's
MAC. A server message (BOOTREPLY) describes the server and the subnet it hands out.

Parsed with struct, not scapy: BOOTP is a fixed header and flat TLV options, and DHCP
retries are frequent enough that scapy's per-packet cost shows.
"""

from __future__ import annotations

import socket
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.dnswire import dotted, read_name
from capture.extractors.emit import clean_text, flow_of
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "dhcp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({67, 68})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

BOOTP_LEN = 236
MAGIC = b"\x63\x82\x53\x63"
UNSPECIFIED = "0.0.0.0"
_MSG_TYPES = {
    1: "discover",
    2: "offer",
    3: "request",
    4: "decline",
    5: "ack",
    6: "nak",
    7: "release",
    8: "inform",
    9: "forcerenew",
    10: "leasequery",
}
_TEXT_OPTIONS = {12: "hostname", 60: "vendor_class", 161: "mud_url", 15: "domain"}
_OVERLOAD = 52


def wants(frame: Frame) -> bool:
    return False


def _read_options(
    data: bytes, start: int, end: int, out: dict[int, bytes], order: list[int]
) -> None:
    """RFC 2132 §2: code, length, value; 0 pads; 255 ends. Repeated codes concatenate (RFC 3396)."""
    pos = start
    while pos < end:
        code = data[pos]
        if code == 255:
            return
        if code == 0:
            pos += 1
            continue
        if pos + 1 >= end:
            raise DecodeError("dhcp_option_truncated")
        length = data[pos + 1]
        value_end = pos + 2 + length
        if value_end > end:
            raise DecodeError("dhcp_option_truncated")
        if code in out:
            out[code] += data[pos + 2 : value_end]
        else:
            out[code] = data[pos + 2 : value_end]
            order.append(code)
        pos = value_end


def _ip(value: bytes) -> str | None:
    return socket.inet_ntoa(value[:4]) if len(value) >= 4 else None


def _user_class(value: bytes, ctx: ExtractContext) -> str:
    """RFC 3004 length-prefixed instances joined by ',', or the raw text some clients send."""
    parts: list[bytes] = []
    pos = 0
    while pos < len(value):
        end = pos + 1 + value[pos]
        if value[pos] == 0 or end > len(value):
            return clean_text(value, ctx.text_max_bytes)
        parts.append(value[pos + 1 : end])
        pos = end
    return clean_text(b",".join(parts), ctx.text_max_bytes)


def _fqdn(value: bytes, ctx: ExtractContext) -> str:
    """RFC 4702: flags, two obsolete rcodes, then the name (wire format when flag E is set)."""
    if len(value) < 3:
        raise DecodeError("dhcp_fqdn_truncated")
    name = value[3:]
    if value[0] & 0x04 and name:
        return clean_text(dotted(read_name(name, 0)[0]), ctx.text_max_bytes)
    return clean_text(name, ctx.text_max_bytes)


def _client_facts(
    options: dict[int, bytes], order: list[int], ctx: ExtractContext
) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = {}
    for code, key in _TEXT_OPTIONS.items():
        if code in options:
            facts[key] = clean_text(options[code], ctx.text_max_bytes)
    if 50 in options:
        facts["requested_ip"] = _ip(options[50])
    if 55 in options:
        facts["param_list"] = tuple(options[55])
    if 57 in options and len(options[57]) == 2:
        facts["max_size"] = struct.unpack("!H", options[57])[0]
    if 61 in options:
        facts["client_id"] = options[61][:64].hex()
    if 77 in options:
        facts["user_class"] = _user_class(options[77], ctx)
    if 81 in options:
        facts["fqdn"] = _fqdn(options[81], ctx)
    facts["option_order"] = tuple(order)
    return facts


def _server_facts(data: bytes, options: dict[int, bytes]) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = {"client_mac": data[28:34].hex(":")}
    yiaddr = socket.inet_ntoa(data[16:20])
    if yiaddr != UNSPECIFIED:
        facts["offered_ip"] = yiaddr
    if 54 in options:
        facts["server_id"] = _ip(options[54])
    if 1 in options:
        facts["subnet_mask"] = _ip(options[1])
    if 3 in options:
        facts["router"] = _ip(options[3])
    if 6 in options:
        facts["dns_servers"] = tuple(
            socket.inet_ntoa(options[6][i : i + 4]) for i in range(0, len(options[6]) - 3, 4)
        )[:4]
    if 51 in options and len(options[51]) == 4:
        facts["lease_s"] = struct.unpack("!I", options[51])[0]
    return facts


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    if len(data) < BOOTP_LEN + 4:
        raise DecodeError("dhcp_truncated")
    op, htype, hlen = data[0], data[1], data[2]
    if op not in (1, 2):
        raise DecodeError("dhcp_op")
    if data[BOOTP_LEN : BOOTP_LEN + 4] != MAGIC:
        return []  # plain BOOTP: no options worth reading
    options: dict[int, bytes] = {}
    order: list[int] = []
    _read_options(data, BOOTP_LEN + 4, len(data), options, order)
    overload = options.get(_OVERLOAD, b"\x00")[:1]
    if overload in (b"\x01", b"\x03"):  # RFC 2132 §9.3: options continue in 'file'
        _read_options(data, 108, 236, options, order)
    if overload in (b"\x02", b"\x03"):  # ... and in 'sname'
        _read_options(data, 44, 108, options, order)
    msg = options.get(53, b"")
    if len(msg) != 1:
        raise DecodeError("dhcp_no_message_type")
    facts: dict[str, FactValue] = {"msg_type": _MSG_TYPES.get(msg[0], str(msg[0]))}
    if op == 2:
        facts.update(_server_facts(data, options))
        role, mac, ip = Role.SERVER, frame.src_mac, frame.src_ip
    else:
        facts.update(_client_facts(options, order, ctx))
        ciaddr = socket.inet_ntoa(data[12:16])
        mac = data[28:34].hex(":") if htype == 1 and hlen == 6 else frame.src_mac
        ip = ciaddr if ciaddr != UNSPECIFIED else frame.src_ip
        role = Role.CLIENT
        if ip == UNSPECIFIED:
            ip = None
    return [
        Observation(
            at=frame.at,
            mac=mac.lower() if mac else None,
            ip=ip,
            vlan=frame.vlan,
            protocol=NAME,
            role=role,
            facts=facts,
            flow=flow_of(frame),
        )
    ]
