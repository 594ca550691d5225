"""Edimax device discovery (UDP 20560): Frame → Observation (the device's maker, model, firmware).

Edimax's setup apps (EdiPlug, EdiView) broadcast a 22-byte search to UDP port 20560:
six 0xFF bytes (all devices), "EDIMAX", six zero bytes and a command (0xA1 0xFF 0x5E). Each
Edimax device answers from port 20560 with a fixed layout (documented by the MIT-licensed
edimax-smartplug client, mwittig/edimax-smartplug index.js `discoverDevices`, and seen in
IoT_Sentinel/EdimaxPlug1101W__Setup-C-3-STA.pcap):

    0-5    the device's MAC address
    6-17   manufacturer, NUL-padded ("EDIMAX")
    22-35  model, NUL-padded ("SP1101W")
    36-43  firmware version, NUL-padded ("1.09")
    44-171 display name (user-set: not kept)
    172-   HTTP port (little-endian), IPv4 address, mask, gateway

Facts (server, the answering device): `manufacturer`, `model`, `firmware`, `mac_in_reply`
(the MAC of bytes 0-5, lowercase); client (the app's search): `query` (true).
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "edimax"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({20560})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

PORT = 20560
SIGNATURE = b"EDIMAX"
REPLY_MIN_BYTES = 44  # through the firmware version field
_FIELDS = (("manufacturer", 6, 18), ("model", 22, 36), ("firmware", 36, 44))


def wants(frame: Frame) -> bool:
    return False


def _field(data: bytes, start: int, end: int, ctx: ExtractContext) -> str:
    return clean_text(data[start:end].split(b"\x00", 1)[0], ctx.text_max_bytes)


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """The answering device's identity, or the app's search; [] for other traffic."""
    data = frame.payload
    if data[6:12] != SIGNATURE:
        return []  # another protocol on the port
    if frame.dst_port == PORT and frame.src_port != PORT:
        return [observe(frame, NAME, Role.CLIENT, {"query": True})]
    if frame.src_port != PORT:
        return []
    if len(data) < REPLY_MIN_BYTES:
        raise DecodeError("edimax_reply_truncated")
    if data[:6] == b"\xff" * 6:
        return []  # a search broadcast from port 20560: no device answers in it
    facts: dict[str, FactValue] = {"mac_in_reply": data[:6].hex(":")}
    for key, start, end in _FIELDS:
        value = _field(data, start, end, ctx)
        if value:
            facts[key] = value
    return [observe(frame, NAME, Role.SERVER, facts)]
