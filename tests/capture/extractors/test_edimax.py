"""edimax extractor: discovery replies built from the published layout and the corpus plug."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, edimax
from capture.observation import Role
from tests.capture.extractors.framing import read_frames
from tests.capture.extractors.tcpframes import udp_frame

CTX = ExtractContext()
# mwittig/edimax-smartplug discoverDevices: the search the EdiPlug app broadcasts.
SEARCH = bytes.fromhex("ffffffffffff" + "4544494d4158" + "000000000000" + "00a1ff5e")


def _reply(model: bytes, firmware: bytes, mac: bytes = bytes.fromhex("74da38000001")) -> bytes:
    """A reply laid out as that client reads it: MAC, maker, model at 22, version at 36."""
    body = bytearray(186)
    body[0:6] = mac
    body[6:12] = b"EDIMAX"
    body[22 : 22 + len(model)] = model
    body[36 : 36 + len(firmware)] = firmware
    body[44:54] = b"Plug000001"  # the user-set display name: never kept
    body[172:174] = (10000).to_bytes(2, "little")
    body[174:178] = bytes([192, 0, 2, 5])
    return bytes(body)


def test_edimax_reply_gives_maker_model_and_firmware() -> None:
    frame = udp_frame(_reply(b"SP2101W", b"2.03"), sport=20560, dport=40000)
    [obs] = edimax.extract(frame, CTX)
    assert obs.role is Role.SERVER
    assert dict(obs.facts) == {
        "mac_in_reply": "74:da:38:00:00:01",
        "manufacturer": "EDIMAX",
        "model": "SP2101W",
        "firmware": "2.03",
    }


def test_edimax_search_from_the_app_is_a_client_query() -> None:
    [obs] = edimax.extract(udp_frame(SEARCH, sport=40000, dport=20560), CTX)
    assert obs.role is Role.CLIENT and dict(obs.facts) == {"query": True}


@pytest.mark.parametrize(
    ("payload", "sport", "dport"),
    [
        (b"\x00" * 60, 20560, 40000),  # no EDIMAX signature: another protocol on the port
        (SEARCH + b"\x00" * 40, 20560, 20560),  # a search sent from the port: names no device
    ],
)
def test_edimax_ignores_traffic_that_is_not_a_device_reply(
    payload: bytes, sport: int, dport: int
) -> None:
    assert edimax.extract(udp_frame(payload, sport=sport, dport=dport), CTX) == []


def test_edimax_reply_cut_before_its_firmware_field_is_malformed() -> None:
    # 30 bytes: the signature is there, the model field is cut and the version is missing.
    with pytest.raises(DecodeError):
        edimax.extract(udp_frame(_reply(b"SP1101W", b"1.09")[:30], sport=20560, dport=1), CTX)


@pytest.mark.corpus
def test_edimax_plug_of_iot_sentinel_answers_with_its_model(corpus: Path) -> None:
    # MANIFEST.md: Edimax SP-1101W smart plug 74:da:38:4a:76:49 at 10.10.10.186, configured
    # from the Android phone 10.10.10.30 (frames 57-60 answer the app's search).
    path = corpus / "IoT_Sentinel/EdimaxPlug1101W__Setup-C-3-STA.pcap"
    replies = [
        obs
        for frame in read_frames(path)
        if frame.is_udp and 20560 in (frame.src_port, frame.dst_port)
        for obs in edimax.extract(frame, CTX)
        if obs.role is Role.SERVER
    ]
    assert replies
    assert {(o.mac, o.ip, o.facts["model"], o.facts["firmware"]) for o in replies} == {
        ("74:da:38:4a:76:49", "10.10.10.186", "SP1101W", "1.09")
    }
