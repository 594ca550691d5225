"""DHCPv6 extractor (RFC 8415, RFC 4704): Frame (UDP 546/547) → Observation.

A client message carries its DUID (RFC 8415 §11: link-layer based DUIDs embed a MAC,
enterprise DUIDs name the vendor), the options it requests, its vendor class (option 16),
its vendor-specific information (option 17: an enterprise number and the vendor's own
sub-options, e.g. Arista EOS zero-touch provisioning) and FQDN (option 39). Advertise and Reply come from the server, identified by its own
DUID (option 2). Relay messages are not unwrapped: a relay's view adds nothing a sensor
on the client's segment does not already see.
"""

from __future__ import annotations

import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.dnswire import dotted, read_name
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "dhcpv6"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({546, 547})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MSG_TYPES = {
    1: "solicit",
    2: "advertise",
    3: "request",
    4: "confirm",
    5: "renew",
    6: "rebind",
    7: "reply",
    8: "release",
    9: "decline",
    10: "reconfigure",
    11: "information-request",
    12: "relay-forw",
    13: "relay-repl",
}
_SERVER_TYPES = frozenset({2, 7, 10})
_RELAY_TYPES = frozenset({12, 13})
DUID_TYPES = {1: "llt", 2: "en", 3: "ll", 4: "uuid"}
OPT_CLIENTID, OPT_SERVERID, OPT_ORO, OPT_USER_CLASS, OPT_VENDOR_CLASS, OPT_FQDN = (
    1,
    2,
    6,
    15,
    16,
    39,
)
OPT_VENDOR_OPTS = 17  # RFC 8415 §21.17
MAX_VENDOR_SUBOPTIONS = 8
MAX_OPTIONS = 64
MAX_DUID_BYTES = 130  # RFC 8415 §11.1: at most 128 octets plus the type


def wants(frame: Frame) -> bool:
    return False


def _options(data: bytes) -> tuple[dict[int, bytes], list[int]]:
    options: dict[int, bytes] = {}
    order: list[int] = []
    pos = 4
    for _ in range(MAX_OPTIONS):
        if pos >= len(data):
            break
        if pos + 4 > len(data):
            raise DecodeError("dhcpv6_option_truncated")
        code, length = struct.unpack_from("!HH", data, pos)
        value = data[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise DecodeError("dhcpv6_option_truncated")
        if code not in options:
            options[code] = value
            order.append(code)
        pos += 4 + length
    return options, order


def _duid_facts(duid: bytes, facts: dict[str, FactValue], text_max_bytes: int) -> None:
    if len(duid) < 2 or len(duid) > MAX_DUID_BYTES:
        raise DecodeError("dhcpv6_duid_length")
    kind = struct.unpack_from("!H", duid, 0)[0]
    # Hex doubles the length: a 128-octet DUID is 256 characters, capped like any wire text.
    facts["duid"] = duid.hex()[:text_max_bytes]
    facts["duid_type"] = DUID_TYPES.get(kind, str(kind))
    # DUID-LLT: type, hardware type, time, address; DUID-LL: type, hardware type, address
    lladdr = duid[8:] if kind == 1 else duid[4:] if kind == 3 else b""
    if (
        kind in (1, 3)
        and len(duid) >= 4
        and struct.unpack_from("!H", duid, 2)[0] == 1
        and len(lladdr) == 6
    ):
        facts["duid_mac"] = lladdr.hex(":")
    elif kind == 2 and len(duid) >= 6:
        facts["enterprise"] = struct.unpack_from("!I", duid, 2)[0]


def _opaque_list(value: bytes, start: int, ctx: ExtractContext) -> str:
    """RFC 8415 §21.15/§21.16: a list of 2-byte-length-prefixed opaque strings, joined by ','."""
    parts: list[bytes] = []
    pos = start
    while pos + 2 <= len(value) and len(parts) < 8:
        length = struct.unpack_from("!H", value, pos)[0]
        if pos + 2 + length > len(value):
            raise DecodeError("dhcpv6_class_truncated")
        parts.append(value[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return clean_text(b",".join(parts), ctx.text_max_bytes)


def _vendor_opts_facts(value: bytes, ctx: ExtractContext, facts: dict[str, FactValue]) -> None:
    """RFC 8415 §21.17: enterprise number, then sub-options (2-byte code, 2-byte length).

    The enterprise number names the vendor whose sub-options these are; it becomes
    `enterprise` unless a vendor class (option 16) already named one. Sub-option data is kept
    as text in `vendor_opts` ("code=data" joined by ',').
    """
    if len(value) < 4:
        raise DecodeError("dhcpv6_vendor_opts_truncated")
    enterprise = struct.unpack_from("!I", value, 0)[0]
    facts["vendor_opts_enterprise"] = enterprise
    if "vendor_class" not in facts:
        facts["enterprise"] = enterprise
    parts: list[bytes] = []
    pos = 4
    while pos + 4 <= len(value) and len(parts) < MAX_VENDOR_SUBOPTIONS:
        code, length = struct.unpack_from("!HH", value, pos)
        if pos + 4 + length > len(value):
            raise DecodeError("dhcpv6_vendor_opts_truncated")
        parts.append(b"%d=" % code + value[pos + 4 : pos + 4 + length])
        pos += 4 + length
    if parts:
        facts["vendor_opts"] = clean_text(b",".join(parts), ctx.text_max_bytes)


def _client_facts(
    options: dict[int, bytes], ctx: ExtractContext, facts: dict[str, FactValue]
) -> None:
    if OPT_CLIENTID in options:
        _duid_facts(options[OPT_CLIENTID], facts, ctx.text_max_bytes)
    if OPT_ORO in options:
        oro = options[OPT_ORO]
        facts["param_list"] = tuple(
            struct.unpack_from("!H", oro, i)[0] for i in range(0, len(oro) - 1, 2)
        )
    if OPT_VENDOR_CLASS in options:
        value = options[OPT_VENDOR_CLASS]
        if len(value) < 4:
            raise DecodeError("dhcpv6_vendor_class_truncated")
        facts["enterprise"] = struct.unpack_from("!I", value, 0)[0]
        facts["vendor_class"] = _opaque_list(value, 4, ctx)
    if OPT_VENDOR_OPTS in options:
        _vendor_opts_facts(options[OPT_VENDOR_OPTS], ctx, facts)
    if OPT_USER_CLASS in options:
        facts["user_class"] = _opaque_list(options[OPT_USER_CLASS], 0, ctx)
    if OPT_FQDN in options:
        value = options[OPT_FQDN]
        if len(value) < 1:
            raise DecodeError("dhcpv6_fqdn_truncated")
        if len(value) > 1:
            facts["fqdn"] = clean_text(dotted(_fqdn_name(value[1:])), ctx.text_max_bytes)


def _fqdn_name(wire: bytes) -> tuple[str, ...]:
    """RFC 4704 §4.2: the domain name in DNS wire format, possibly partial (no root label)."""
    if wire[-1:] != b"\x00":
        wire += b"\x00"
    return read_name(wire, 0)[0]


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    if len(data) < 4:
        raise DecodeError("dhcpv6_truncated")
    kind = data[0]
    if kind not in MSG_TYPES:
        raise DecodeError("dhcpv6_msg_type")
    if kind in _RELAY_TYPES:
        return []
    options, order = _options(data)
    facts: dict[str, FactValue] = {"msg_type": MSG_TYPES[kind]}
    if kind in _SERVER_TYPES:
        if OPT_SERVERID in options:
            _duid_facts(options[OPT_SERVERID], facts, ctx.text_max_bytes)
        role = Role.SERVER
    else:
        _client_facts(options, ctx, facts)
        facts["option_order"] = tuple(order)
        role = Role.CLIENT
    return [observe(frame, NAME, role, facts)]
