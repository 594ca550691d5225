"""Crestron autodiscovery (UDP 41794): Frame → Observation (the device's model, firmware).

Crestron control processors, touch panels and DM/DMPS AV gear answer the autodiscovery
broadcast of Crestron's tools on UDP port 41794 with their host name and their version line,
the same line their console's VER command prints:

    CP3 Cntrl Eng [v1.601.3934.19631 (Oct 10 2019), #00A3BBE7] @E-00107f4a3474
    DMPS3-4K-150-C Cntrl Eng [v1.7001.4523.04604 (May 21 2021), #8B02431A] @E-00107fc92ed0

(model, "Cntrl Eng", firmware version and build date, the serial/TSID after '#', and after
"@E-" the device's MAC). The line is found in the datagram by its shape; the binary framing
around it is not interpreted.

Facts. Server (a datagram carrying the version line): `model`, `firmware`, `serial`,
`mac_in_reply` (lower case with colons). Client (a datagram to the port without it, an
autodiscovery request): `query` (true).
"""

from __future__ import annotations

import re

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "crestron"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
PORT = 41794
UDP_PORTS = frozenset({PORT})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MESSAGE_MAX = 4096
_VERSION_LINE = re.compile(
    rb"([A-Za-z0-9][A-Za-z0-9_.+-]{0,39}) Cntrl Eng \[v(\d{1,10}(?:\.\d{1,10}){1,6})"
    rb"(?: \([A-Za-z]{3} +\d{1,2} \d{4}\))?,? ?(?:#([0-9A-Fa-f]{8}))?\]"
    rb"(?: @E-([0-9a-fA-F]{12}))?"
)


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """The device's version line, or an autodiscovery request; [] for other traffic."""
    data = frame.payload
    if not data:
        return []
    if len(data) > MESSAGE_MAX:
        raise DecodeError("crestron_length")
    match = _VERSION_LINE.search(data)
    if match is None:
        if frame.dst_port == PORT and frame.src_port != PORT:
            return [observe(frame, NAME, Role.CLIENT, {"query": True})]
        return []
    model, firmware, serial, mac = match.groups()
    facts: dict[str, FactValue] = {
        "model": model.decode("ascii"),
        "firmware": firmware.decode("ascii"),
    }
    if serial:
        facts["serial"] = serial.decode("ascii").upper()
    if mac:
        facts["mac_in_reply"] = bytes.fromhex(mac.decode("ascii")).hex(":")
    return [observe(frame, NAME, Role.SERVER, facts)]
