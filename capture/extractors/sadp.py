"""Hikvision SADP device discovery (UDP 37020): Frame → Observation (the answering device's
model, serial number, software version).

Hikvision's SADP tool and NVRs find cameras, recorders and access terminals by multicasting
an XML inquiry to 239.255.255.250:37020 (`<Probe><Uuid>...</Uuid><Types>inquiry</Types>
</Probe>`); each Hikvision device answers to the same group and port with a `<ProbeMatch>`
document describing itself. Replies as devices send them (one element per line, trimmed):

    <?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>F93CF8DC-...</Uuid>
    <Types>inquiry</Types><DeviceType>142378</DeviceType>
    <DeviceDescription>DS-2CD2320D-I</DeviceDescription>
    <DeviceSN>DS-2CD2320D-I20180919AACHC52932642</DeviceSN><CommandPort>8000</CommandPort>
    <HttpPort>80</HttpPort><MAC>44-47-cc-37-ce-81</MAC><IPv4Address>192.168.1.112</IPv4Address>
    ... <SoftwareVersion>V5.4.5build 260429</SoftwareVersion> ... <Activated>true</Activated>
    </ProbeMatch>

Elements are read with a bounded pattern, not an XML parser (no entities, no DTD, no depth).

Facts. Server (a ProbeMatch): `model` (DeviceDescription), `serial` (DeviceSN),
`software_version`, `device_type` (int, DeviceType), `mac_in_reply` (MAC, lower case with
colons), `activated` (bool: false = factory state, no admin password set yet). Client (an
inquiry): `query` (true).
"""

from __future__ import annotations

import re

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "sadp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({37020})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MESSAGE_MAX = 8192  # a ProbeMatch is about 1.5 KiB
VALUE_MAX_CHARS = 128
_ROOT = re.compile(rb"<(ProbeMatch|Probe)\s*>", re.IGNORECASE)
_ELEMENT = re.compile(rb"<([A-Za-z0-9]{1,40})>([^<]{0,%d})</\1\s*>" % (VALUE_MAX_CHARS * 4))
_TEXT = {
    b"devicedescription": "model",
    b"devicesn": "serial",
    b"softwareversion": "software_version",
}
_MAC = re.compile(r"^[0-9a-f]{2}(?:[-:][0-9a-f]{2}){5}$")


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """The answering device's identity, or the inquiry of a tool; [] for other traffic."""
    data = frame.payload
    if len(data) > MESSAGE_MAX:
        raise DecodeError("sadp_length")
    root = _ROOT.search(data, 0, 256)
    if root is None:
        return []  # another protocol on the port
    if root.group(1).lower() == b"probe":
        return [observe(frame, NAME, Role.CLIENT, {"query": True})]
    facts: dict[str, FactValue] = {}
    for match in _ELEMENT.finditer(data, root.end()):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if not raw:
            continue
        if name in _TEXT:
            facts.setdefault(_TEXT[name], clean_text(raw, ctx.text_max_bytes))
        elif name == b"devicetype" and raw.isdigit() and len(raw) <= 9:
            facts.setdefault("device_type", int(raw))
        elif name == b"mac":
            mac = raw.decode("ascii", "replace").lower()
            if _MAC.match(mac):
                facts.setdefault("mac_in_reply", mac.replace("-", ":"))
        elif name == b"activated" and raw.lower() in (b"true", b"false"):
            facts.setdefault("activated", raw.lower() == b"true")
    if "model" not in facts and "serial" not in facts:
        raise DecodeError("sadp_no_identity")  # a ProbeMatch names its device
    return [observe(frame, NAME, Role.SERVER, facts)]
