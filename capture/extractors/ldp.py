"""Label distribution discovery (LDP, RFC 5036; Cisco TDP): Frame (UDP 646/711) → Observation.

Label switching routers find their neighbours by sending Hello PDUs to UDP 646 (LDP, RFC 5036
§2.4.1: to the all-routers group, or targeted) or, on older Cisco IOS, to UDP 711 (Tag
Distribution Protocol, draft-doolan-tdp-spec, from which LDP's framing comes). Both start
with the same PDU header (RFC 5036 §3.1): version (2 bytes, 1), PDU length (2 bytes, counting
what follows it), LDP/TDP identifier (4-byte LSR id, 2-byte label space id). Only that header
is interpreted; on UDP 646 the first message type is kept too (0x0100 = Hello, §3.5.2).

Facts (role announcer): `variant` ("ldp" or "tdp"), `version` (int), `lsr_id` (dotted IPv4),
`label_space` (int), `message_type` (LDP only, int).
"""

from __future__ import annotations

import socket
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "ldp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
LDP_PORT, TDP_PORT = 646, 711
UDP_PORTS = frozenset({LDP_PORT, TDP_PORT})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

HEADER_LEN = 10  # version, PDU length, LSR id, label space
PDU_LENGTH_MIN = 6  # the identifier alone
SUPPORTED_VERSION = 1  # RFC 5036 §3.1: "This document defines version 1"


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    if frame.dst_port not in UDP_PORTS:
        return []  # hellos are sent to the well-known port
    data = frame.payload
    if len(data) < HEADER_LEN:
        raise DecodeError("ldp_truncated")
    version, length = struct.unpack_from("!HH", data, 0)
    if version != SUPPORTED_VERSION:
        raise DecodeError("ldp_version")
    if length < PDU_LENGTH_MIN or length + 4 > len(data):
        raise DecodeError("ldp_length")
    facts: dict[str, FactValue] = {
        "variant": "ldp" if frame.dst_port == LDP_PORT else "tdp",
        "version": version,
        "lsr_id": socket.inet_ntoa(data[4:8]),
        "label_space": struct.unpack_from("!H", data, 8)[0],
    }
    if frame.dst_port == LDP_PORT and len(data) >= HEADER_LEN + 2:
        facts["message_type"] = struct.unpack_from("!H", data, HEADER_LEN)[0] & 0x7FFF
    return [observe(frame, NAME, Role.ANNOUNCER, facts)]
