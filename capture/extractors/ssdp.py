"""SSDP extractor (UPnP Device Architecture 2.0 §1): Frame (UDP 1900) → Observation.

NOTIFY and the unicast 200 OK answer to a search are the sender announcing itself
(SERVER names OS, UPnP stack and often product; LOCATION is its description URL). An
M-SEARCH is a control point looking for devices (USER-AGENT names the app or OS).
Plain text parsing with a bound on the lines read.
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "ssdp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({1900})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MAX_LINES = 40
MAX_MESSAGE_BYTES = 8192
_HEADERS = {
    b"server": "server",
    b"usn": "usn",
    b"nt": "nt",
    b"nts": "nts",
    b"st": "st",
    b"location": "location",
    b"user-agent": "user_agent",
    b"x-user-agent": "user_agent",
}
_START = {
    b"NOTIFY": ("NOTIFY", Role.ANNOUNCER),
    b"M-SEARCH": ("M-SEARCH", Role.CLIENT),
    b"HTTP/1.1": ("RESPONSE", Role.ANNOUNCER),
    b"HTTP/1.0": ("RESPONSE", Role.ANNOUNCER),
}


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload[:MAX_MESSAGE_BYTES]
    lines = data.split(b"\n", MAX_LINES)
    start = _START.get(lines[0].split(b" ", 1)[0].strip())
    if start is None:
        raise DecodeError("ssdp_start_line")
    method, role = start
    facts: dict[str, FactValue] = {"method": method}
    for line in lines[1:MAX_LINES]:
        line = line.rstrip(b"\r")
        if not line:
            break  # end of headers (RFC 9112 §2.1)
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = _HEADERS.get(name.strip().lower())
        if key is not None and key not in facts:
            facts[key] = clean_text(value, ctx.text_max_bytes)
    return [observe(frame, NAME, role, facts)]
