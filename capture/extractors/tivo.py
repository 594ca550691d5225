"""TiVo Connect discovery beacons: Frame (UDP/TCP 2190) → Observation.

TiVo DVRs, and the media servers that serve them (TiVo Desktop, pyTivo, MiniDLNA/ReadyDLNA on
NAS boxes and routers), announce themselves with a text beacon to UDP port 2190 (broadcast,
"method=broadcast") and exchange the same beacon when one connects to another on TCP 2190
("method=connected"; over TCP each beacon is preceded by its length, 4 bytes big-endian).
A beacon is "key=value" lines; the keys are case-insensitive (TiVo DVRs write them in lower
case, TiVo Desktop capitalises them). Beacons as sent:

    tivoconnect=1 swversion=11.0k-01-2-652 method=broadcast identity=6520201806EEAAE
    machine=Living Room platform=tcd/Series3 services=TiVoMediaServer:80/http
    TiVoConnect=1 Machine=HPQUAD Identity={E2C4...} Method=Broadcast
    Platform=pc/WinNT:6.1.7601 Services=TiVoMediaServer:8080/http
    tivoconnect=1 swversion=1.0 method=broadcast identity=uuid:4d696e69-444c-... machine=R7000P
    platform=pc/minidlna services=TiVoMediaServer:8200/http    (nDPI/TivoDVR.pcap)

(one per line in the packet). `platform` says what the sender is ("tcd/SeriesN": a TiVo
client device, i.e. a DVR of that series; "pc/...": software on a computer), `machine` is
the name it gives itself (the DVR's or the server's), `swversion` its software version,
`identity` its unique id (a DVR's TiVo Service Number).

A beacon describes its sender: role announcer. Facts: `platform`, `machine`, `swversion`,
`identity`, `method` (lower case), `services` (tuple of "Name:port/protocol", at most
SERVICES_MAX).
"""

from __future__ import annotations

import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "tivo"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
PORT = 2190
UDP_PORTS = frozenset({PORT})
TCP_PORTS = frozenset({PORT})
SCAPY = False

SIGNATURE = b"tivoconnect="
BEACON_MAX = 4096  # a beacon is a few hundred bytes
SERVICES_MAX = 8
_TEXT_KEYS = ("platform", "machine", "swversion", "identity")


def wants(frame: Frame) -> bool:
    return False


def _beacon(frame: Frame) -> bytes | None:
    """The beacon text of the frame, or None when the payload is not a beacon."""
    data = frame.payload
    sig = len(SIGNATURE)
    if frame.is_tcp and data[:sig].lower() != SIGNATURE and data[4 : 4 + sig].lower() == SIGNATURE:
        length = struct.unpack_from("!I", data, 0)[0]
        if length > BEACON_MAX or length > len(data) - 4:
            raise DecodeError("tivo_length")  # cut by the segment end: no reassembly
        data = data[4 : 4 + length]
    if data[:sig].lower() != SIGNATURE:
        return None  # another protocol on the port
    if len(data) > BEACON_MAX:
        raise DecodeError("tivo_length")
    return data


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """The sender's self-description; [] for other traffic on the port."""
    if not frame.payload:
        return []  # a bare segment (SYN, ACK) on the port
    beacon = _beacon(frame)
    if beacon is None:
        return []
    fields: dict[str, str] = {}
    for line in beacon.replace(b"\r", b"").split(b"\n"):
        key, sep, value = line.partition(b"=")
        name = key.strip().lower().decode("ascii", "replace")
        if sep and name not in fields:
            fields[name] = clean_text(value.strip(), ctx.text_max_bytes)
    if fields.get("tivoconnect") != "1":
        raise DecodeError("tivo_version")  # the only version the protocol has
    facts: dict[str, FactValue] = {k: fields[k] for k in _TEXT_KEYS if fields.get(k)}
    if fields.get("method"):
        facts["method"] = fields["method"].lower()
    services = [s.strip() for s in fields.get("services", "").split(",") if s.strip()]
    if services:
        facts["services"] = tuple(services[:SERVICES_MAX])
    if not facts:
        return []
    return [observe(frame, NAME, Role.ANNOUNCER, facts)]
