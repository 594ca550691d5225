"""LLDP extractor (IEEE 802.1AB, ANSI/TIA-1057 LLDP-MED): Frame (EtherType 0x88CC) → Observation.

Reads the mandatory and optional basic TLVs (chassis, port, system name/description,
capabilities, management address), the LLDP-MED TLVs (OUI 00-12-BB: device class, network
policy, inventory: hardware/firmware/software revision, serial, manufacturer, model, asset
id), the 802.1 port VLAN and the IANA MUD URL TLV (RFC 8520).

Parsed with struct: LLDP is a flat list of TLVs with a 7-bit type and 9-bit length, and
scapy 2.8's contrib.lldp has no classes for the LLDP-MED inventory TLVs.
"""

from __future__ import annotations

import socket
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import ETH_P_LLDP, Frame
from capture.observation import FactValue, Observation, Role

NAME = "lldp"
ETHERTYPES = frozenset({ETH_P_LLDP})
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MAX_TLVS = 64
OUI_MED = b"\x00\x12\xbb"
OUI_8021 = b"\x00\x80\xc2"
OUI_IANA = b"\x00\x00\x5e"
# IEEE 802.1AB-2016 §8.5.8.1 system capabilities, bit 0 first
CAPABILITIES = (
    "other",
    "repeater",
    "bridge",
    "wlan_ap",
    "router",
    "telephone",
    "docsis",
    "station",
    "c_vlan",
    "s_vlan",
    "tpmr",
)
# ANSI/TIA-1057 §10.2.2.2 LLDP-MED device type
MED_CLASSES = {
    1: "endpoint_class_1",
    2: "endpoint_class_2",
    3: "endpoint_class_3",
    4: "network_connectivity",
}
# ANSI/TIA-1057 §10.2.6: inventory TLV subtypes
MED_INVENTORY = {
    5: "med_hardware",
    6: "med_firmware",
    7: "med_software",
    8: "med_serial",
    9: "med_manufacturer",
    10: "med_model",
    11: "med_asset_id",
}
_TEXT_TLVS = {4: "port_description", 5: "system_name", 6: "system_description"}
MED_APP_VOICE = 1


def wants(frame: Frame) -> bool:
    return False


def _address(family: int, raw: bytes) -> str | None:
    """IANA address family 1 = IPv4, 2 = IPv6 (RFC 3232 registry)."""
    if family == 1 and len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if family == 2 and len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return None


def _id_value(subtype: int, raw: bytes, mac_subtype: int, ctx: ExtractContext) -> str:
    """Chassis ID / Port ID: a MAC (chassis subtype 4, port subtype 3), an address, or text."""
    if subtype == mac_subtype and len(raw) == 6:
        return raw.hex(":")
    if subtype == mac_subtype + 1 and raw:  # network address: family byte + address
        addr = _address(raw[0], raw[1:])
        if addr is not None:
            return addr
    return clean_text(raw, ctx.text_max_bytes)


def _capabilities(bits: int) -> tuple[str, ...]:
    return tuple(name for i, name in enumerate(CAPABILITIES) if bits & (1 << i))


def _org_specific(value: bytes, facts: dict[str, FactValue], ctx: ExtractContext) -> None:
    if len(value) < 4:
        raise DecodeError("lldp_org_truncated")
    oui, subtype, body = value[:3], value[3], value[4:]
    if oui == OUI_MED:
        if subtype == 1 and len(body) >= 3:
            facts["med_device_class"] = MED_CLASSES.get(body[2], str(body[2]))
        elif subtype == 2 and len(body) >= 4 and body[0] == MED_APP_VOICE:
            policy = struct.unpack("!I", body[:4])[0]
            facts["voice_vlan"] = (policy >> 9) & 0x0FFF
        elif subtype in MED_INVENTORY:
            facts[MED_INVENTORY[subtype]] = clean_text(body, ctx.text_max_bytes)
    elif oui == OUI_8021 and subtype == 1 and len(body) >= 2:
        facts["port_vlan"] = struct.unpack("!H", body[:2])[0]
    elif oui == OUI_IANA and subtype == 1:
        facts["mud_url"] = clean_text(body, ctx.text_max_bytes)


def _mgmt_address(value: bytes) -> str | None:
    if len(value) < 2 or value[0] < 2 or len(value) < 1 + value[0]:
        raise DecodeError("lldp_mgmt_truncated")
    return _address(value[1], value[2 : 1 + value[0]])


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    facts: dict[str, FactValue] = {}
    pos = 0
    for _ in range(MAX_TLVS):
        if pos + 2 > len(data):
            raise DecodeError("lldp_tlv_truncated")
        header = struct.unpack_from("!H", data, pos)[0]
        kind, length = header >> 9, header & 0x01FF
        value = data[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise DecodeError("lldp_tlv_truncated")
        pos += 2 + length
        if kind == 0:
            break
        if kind in (1, 2):
            if not value:
                raise DecodeError("lldp_id_empty")
            key = "chassis_id" if kind == 1 else "port_id"
            facts[key] = _id_value(value[0], value[1:], 4 if kind == 1 else 3, ctx)
        elif kind in _TEXT_TLVS:
            facts[_TEXT_TLVS[kind]] = clean_text(value, ctx.text_max_bytes)
        elif kind == 7:
            if length != 4:
                raise DecodeError("lldp_capabilities_length")
            system, enabled = struct.unpack("!HH", value)
            facts["capabilities"] = _capabilities(system)
            facts["enabled_capabilities"] = _capabilities(enabled)
        elif kind == 8:
            address = _mgmt_address(value)
            if address is not None and "mgmt_ip" not in facts:
                facts["mgmt_ip"] = address
        elif kind == 127:
            _org_specific(value, facts, ctx)
    if "chassis_id" not in facts:
        raise DecodeError("lldp_no_chassis_id")  # IEEE 802.1AB §8.2: the first TLV
    mgmt = facts.get("mgmt_ip")
    return [
        observe(
            frame,
            NAME,
            Role.ANNOUNCER,
            facts,
            ip=mgmt if isinstance(mgmt, str) else None,
            flow_proto=NAME,
        )
    ]
