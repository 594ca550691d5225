"""Dahua DHIP device discovery (UDP 37810): Frame → Observation (the device's class, model,
firmware, brand).

Dahua's ConfigTool and recorders search for devices by sending a DHIP message
(`{"method": "DHDiscover.search", ...}`) to UDP port 37810, broadcast or to the multicast
group; cameras, recorders and door stations built on Dahua's platform (sold as Dahua and
under OEM brands such as Lorex) answer with `client.notifyDevInfo`. A DHIP message is a
32-byte header (0x20 0x00 0x00 0x00, "DHIP", an 8-byte session id, the JSON length as a
little-endian 32-bit word at offsets 16 and 24) followed by JSON. Answers as devices send
them:

    {"mac": "4c:11:bf:c2:0b:9d", "method": "client.notifyDevInfo", "params": {"deviceInfo":
     {"DeviceClass": "IPC", "DeviceType": "IPC-HDW5421S", "SerialNo": "1F006E4PAX00075",
      "Vendor": "Dahua", "Version": "2.400.0.8", "Manufacturer": "Private", ...}}}

Facts. Server (a notifyDevInfo answer): `device_class` ("IPC", "NVR", "VTO"...), `model`
(DeviceType), `serial` (SerialNo), `firmware` (Version), `brand` (Vendor: "Dahua", "Lorex",
or "General"/"Private" for unbranded OEM units), `mac_in_reply`. Client (a search): `query`
(true).
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "dhip"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({37810})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MAGIC = b"DHIP"
HEADER_BYTES = 32
MESSAGE_MAX = 8192  # an answer is about 800 bytes
_TEXT = {"DeviceClass": "device_class", "DeviceType": "model", "SerialNo": "serial",
         "Version": "firmware", "Vendor": "brand"}  # fmt: skip
_MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")
_LENGTH = struct.Struct("<I")


def wants(frame: Frame) -> bool:
    return False


def _body(data: bytes) -> Any:
    if len(data) > MESSAGE_MAX:
        raise DecodeError("dhip_length")
    if len(data) < HEADER_BYTES:
        raise DecodeError("dhip_truncated")
    length = _LENGTH.unpack_from(data, 16)[0]
    body = data[HEADER_BYTES:]
    if length > len(body):
        raise DecodeError("dhip_length")
    try:
        return json.loads(body[:length].rstrip(b"\x00").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DecodeError("dhip_json") from exc


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """The answering device's identity, or a search; [] for other traffic on the port."""
    data = frame.payload
    if data[4:8] != MAGIC:
        return []  # another protocol on the port
    message = _body(data)
    if not isinstance(message, dict):
        raise DecodeError("dhip_not_object")
    method = message.get("method")
    if method == "DHDiscover.search":
        return [observe(frame, NAME, Role.CLIENT, {"query": True})]
    if method != "client.notifyDevInfo":
        return []
    params = message.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        raise DecodeError("dhip_no_device_info")
    facts: dict[str, FactValue] = {}
    for key, fact in _TEXT.items():
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            facts[fact] = clean_text(value, ctx.text_max_bytes)
    mac = message.get("mac")
    if isinstance(mac, str) and _MAC.match(mac):
        facts["mac_in_reply"] = mac.lower()
    if not facts:
        return []
    return [observe(frame, NAME, Role.SERVER, facts)]
