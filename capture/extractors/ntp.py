"""NTP extractor (RFC 5905; modes 6/7 of RFC 1305 and ntpd): Frame (UDP 123) → Observation.

The first byte holds leap indicator, version and mode. A client (mode 3) names the server
it uses; a server (mode 4) or broadcaster (mode 5) gives its stratum and reference id.
Modes 6 (control) and 7 (private, where monlist lives) are kept as observations too: a
device answering them is an amplification risk.
"""

from __future__ import annotations

import socket

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "ntp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({123})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

HEADER_LEN = 48  # RFC 5905 §7.3
MODES = {
    1: "symmetric_active",
    2: "symmetric_passive",
    3: "client",
    4: "server",
    5: "broadcast",
    6: "control",
    7: "private",
}
_ROLES = {1: Role.PEER, 2: Role.PEER, 3: Role.CLIENT, 4: Role.SERVER, 5: Role.SERVER}


def wants(frame: Frame) -> bool:
    return False


def _reference_id(stratum: int, raw: bytes, ctx: ExtractContext) -> str:
    """RFC 5905 §7.3: stratum 0/1 carry four ASCII characters, higher strata an IPv4 address."""
    if stratum <= 1:
        return clean_text(raw.rstrip(b"\x00"), ctx.text_max_bytes)
    return socket.inet_ntoa(raw)


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    if not data:
        raise DecodeError("ntp_empty")
    version, mode = (data[0] >> 3) & 0x07, data[0] & 0x07
    if not 1 <= version <= 4:
        raise DecodeError("ntp_version")
    if mode == 0:
        raise DecodeError("ntp_mode")
    facts: dict[str, FactValue] = {"version": version, "mode": MODES[mode]}
    if mode in (6, 7):
        if len(data) < 8:
            raise DecodeError("ntp_truncated")
        # mode 6: response bit 0x80 of byte 1; mode 7: response bit 0x80 of byte 0
        response = bool((data[1] if mode == 6 else data[0]) & 0x80)
        facts["response"] = response
        return [observe(frame, NAME, Role.SERVER if response else Role.CLIENT, facts)]
    if len(data) < HEADER_LEN:
        raise DecodeError("ntp_truncated")
    role = _ROLES[mode]
    stratum = data[1]
    if role is Role.CLIENT:
        if frame.dst_ip is not None:
            facts["server"] = frame.dst_ip
    else:
        facts["stratum"] = stratum
        facts["reference_id"] = _reference_id(stratum, data[12:16], ctx)
    return [observe(frame, NAME, role, facts)]
