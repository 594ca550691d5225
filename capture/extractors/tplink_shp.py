"""TP-Link Smart Home Protocol (Kasa plugs, switches, bulbs): Frame (UDP/TCP 9999) → Observation.

Kasa devices take JSON commands on port 9999, obfuscated with an autokey XOR cipher whose
initial key is 171: each plaintext byte is XORed with the previous ciphertext byte (softScheck,
"Reverse Engineering the TP-Link HS110", 2016; TP-Link's Kasa app and controllers such as
Home Assistant's integration broadcast the discovery query `{"system":{"get_sysinfo":{}}}` to
UDP 9999). Over TCP every message is preceded by a 4-byte big-endian length.

A message whose JSON is a query (empty or parameter objects only) comes from a controller:
role client, fact `query` (tuple of "module.method" names). Answers carry "err_code" in
every method object: role server, fact `responses` (tuple of "module.method"). A get_sysinfo
answer comes from
the device: role server, facts `model` ("HS110(EU)"), `sw_ver`, `hw_ver`, `device_type`
("IOT.SMARTPLUGSWITCH", or `mic_type` on bulbs), `dev_name` (the product description); the
user-chosen alias is not kept.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "tplink_shp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
SHP_PORT = 9999
UDP_PORTS = frozenset({SHP_PORT})
TCP_PORTS = frozenset({SHP_PORT})
SCAPY = False

INITIAL_KEY = 171
MESSAGE_MAX = 8192  # a get_sysinfo answer is well under 2 KiB
QUERIES_MAX = 16
_SYSINFO_TEXT = {"model": "model", "sw_ver": "sw_ver", "hw_ver": "hw_ver", "dev_name": "dev_name"}
_SYSINFO_TYPE_KEYS = ("type", "mic_type")


def wants(frame: Frame) -> bool:
    return False


def decrypt(data: bytes) -> bytes:
    """Undo the autokey XOR: plain[i] = cipher[i] ^ cipher[i-1], cipher[-1] = 171."""
    key = INITIAL_KEY
    out = bytearray(len(data))
    for i, byte in enumerate(data):
        out[i] = byte ^ key
        key = byte
    return bytes(out)


def _message(frame: Frame) -> Any:
    data = frame.payload
    if frame.is_tcp:
        if len(data) < 4:
            raise DecodeError("tplink_shp_truncated")
        length = struct.unpack_from("!I", data, 0)[0]
        if length > MESSAGE_MAX or length > len(data) - 4:
            raise DecodeError("tplink_shp_length")  # cut by the segment end: no reassembly
        data = data[4 : 4 + length]
    if not data or len(data) > MESSAGE_MAX:
        raise DecodeError("tplink_shp_length")
    try:
        return json.loads(decrypt(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting: not Kasa
        raise DecodeError("tplink_shp_json") from exc


def _sysinfo_facts(info: dict[str, Any], ctx: ExtractContext) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = {}
    for key, fact in _SYSINFO_TEXT.items():
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            facts[fact] = clean_text(value, ctx.text_max_bytes)
    for key in _SYSINFO_TYPE_KEYS:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            facts["device_type"] = clean_text(value, ctx.text_max_bytes)
            break
    return facts


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    if not frame.payload:
        return []  # a bare segment (SYN, ACK) on the port: nothing said
    message = _message(frame)
    if not isinstance(message, dict):
        raise DecodeError("tplink_shp_not_object")
    queries: list[str] = []
    responses: list[str] = []
    for module, methods in message.items():
        if not isinstance(methods, dict):
            continue
        for method, body in methods.items():
            if not isinstance(body, dict):
                continue
            if module == "system" and method == "get_sysinfo" and body:
                facts = _sysinfo_facts(body, ctx)
                if facts:
                    return [observe(frame, NAME, Role.SERVER, facts)]
            name = clean_text(f"{module}.{method}", 64)
            target = responses if "err_code" in body else queries
            if len(target) < QUERIES_MAX:
                target.append(name)
    if responses:
        return [observe(frame, NAME, Role.SERVER, {"responses": tuple(responses)})]
    if not queries:
        return []
    return [observe(frame, NAME, Role.CLIENT, {"query": tuple(queries)})]
