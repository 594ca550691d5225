"""tplink_shp extractor on nDPI/tplink_shp.pcap and built Kasa messages (autokey XOR, key 171)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, tplink_shp
from capture.observation import Role
from tests.capture.extractors.framing import read_frames
from tests.capture.extractors.tcpframes import SERVER_MAC, tcp_frame, udp_frame

CTX = ExtractContext()


def _encrypt(plain: bytes) -> bytes:
    # softScheck's description: cipher[i] = plain[i] ^ cipher[i-1], starting from 171
    key, out = 171, bytearray()
    for byte in plain:
        key ^= byte
        out.append(key)
    return bytes(out)


def test_decrypt_matches_the_published_cipher_of_the_sysinfo_query() -> None:
    # nDPI/tplink_shp.pcap: the broadcast {"system":{"get_sysinfo":{}}} starts d0 f2 81 f8 8b ff
    assert _encrypt(b'{"system"')[:6] == bytes.fromhex("d0f281f88bff")
    assert tplink_shp.decrypt(_encrypt(b'{"system":{}}')) == b'{"system":{}}'


def test_discovery_broadcasts_come_from_eight_controllers(corpus: Path) -> None:
    obs = [
        o
        for frame in read_frames(corpus / "nDPI/tplink_shp.pcap")
        if frame.is_udp and 9999 in (frame.src_port, frame.dst_port)
        for o in tplink_shp.extract(frame, CTX)
    ]
    # labels.json: eight hosts only broadcast {"system":{"get_sysinfo":{}}} to UDP 9999
    assert len({o.mac for o in obs}) == 8
    assert {(o.role, o.fact("query")) for o in obs} == {(Role.CLIENT, ("system.get_sysinfo",))}


def test_sysinfo_answer_over_tcp_names_model_and_firmware() -> None:
    info = {
        "system": {
            "get_sysinfo": {
                "sw_ver": "1.0.8 Build 151113 Rel.24658",
                "hw_ver": "1.0",
                "type": "IOT.SMARTPLUGSWITCH",
                "model": "HS110(EU)",
                "dev_name": "Wi-Fi Smart Plug With Energy Monitoring",
                "alias": "Kitchen",
                "err_code": 0,
            }
        }
    }
    cipher = _encrypt(json.dumps(info).encode())
    payload = struct.pack("!I", len(cipher)) + cipher
    (obs,) = tplink_shp.extract(tcp_frame(payload, dport=9999, from_server=True), CTX)
    assert obs.role is Role.SERVER and obs.mac == SERVER_MAC
    assert obs.fact("model") == "HS110(EU)" and obs.fact("device_type") == "IOT.SMARTPLUGSWITCH"
    assert obs.fact("sw_ver") == "1.0.8 Build 151113 Rel.24658" and obs.fact("alias") is None


def test_other_answers_are_server_side_without_identity() -> None:
    cipher = _encrypt(b'{"system":{"set_relay_state":{"err_code":0}}}')
    (obs,) = tplink_shp.extract(udp_frame(cipher, sport=9999, dport=40000), CTX)
    assert obs.role is Role.SERVER and obs.fact("responses") == ("system.set_relay_state",)


@pytest.mark.parametrize(
    ("payload", "tcp"),
    [
        (b"\x00\x01\x02", False),  # not JSON once decrypted
        (_encrypt(b"[1, 2]"), False),  # JSON but not an object
        (_encrypt(b"[" * 5000), False),  # nesting deeper than the JSON parser recurses
        (struct.pack("!I", 500) + _encrypt(b"{}"), True),  # length beyond the segment
    ],
)
def test_rejects_what_is_not_a_kasa_message(payload: bytes, tcp: bool) -> None:
    frame = tcp_frame(payload, dport=9999) if tcp else udp_frame(payload, sport=40000, dport=9999)
    with pytest.raises(DecodeError):
        tplink_shp.extract(frame, CTX)
