"""slp extractor on the HP printer SLPv1 capture and built SLPv2 messages (RFC 2165, RFC 2608)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, slp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if 427 in (frame.src_port, frame.dst_port)
        for obs in slp.extract(frame, CTX)
    ]


def test_slp_v1_hp_printer_attribute_reply(corpus: Path) -> None:
    reply, request = _observations(corpus / "nDPI/srvloc-v1.pcapng")  # reply captured first
    assert request.role is Role.CLIENT and request.fact("service_url") == "service:x-hpnp-discover:"
    assert (
        reply.role is Role.ANNOUNCER
        and reply.fact("version") == 1
        and reply.fact("function") == "attrrply"
    )
    # MANIFEST: x-hp-mac=3C528226FD28, x-hp-hn=DEV26FD28, x-hp-prod_id=Stella4NW_01,
    # MDL:HP Color LaserJet Pro MFP M177fw, FWVER:20160926, CLS:PRINTER
    assert reply.fact("attr.x-hp-mac") == "3C528226FD28"
    assert reply.fact("attr.x-hp-hn") == "DEV26FD28"
    assert reply.fact("attr.x-hp-prod_id") == "Stella4NW_01"
    assert reply.fact("attr.mdl") == "HP Color LaserJet Pro MFP M177fw"
    assert reply.fact("attr.fwver") == "20160926"
    assert reply.fact("attr.cls") == "PRINTER"


def _v2(function: int, body: bytes) -> bytes:
    lang = b"en"
    length = 14 + len(lang) + len(body)
    return (
        bytes([2, function])
        + length.to_bytes(3, "big")
        + b"\x00\x00"
        + b"\x00\x00\x00"
        + b"\x12\x34"
        + struct.pack("!H", len(lang))
        + lang
        + body
    )


def _s(text: bytes) -> bytes:
    return struct.pack("!H", len(text)) + text


def test_slp_v2_service_registration_with_attributes() -> None:
    url = b"service:printer:lpr://192.0.2.60/queue"
    body = b"\x00" + b"\x00\x3c" + _s(url) + b"\x00"  # URL entry, no auth blocks
    body += _s(b"service:printer:lpr") + _s(b"DEFAULT")
    body += (
        _s(b"(Make-And-Model=Brother HL-L2350DW),(printer-firmware-version=1.61),color-supported")
        + b"\x00"
    )
    (obs,) = slp.extract(udp_frame(_v2(3, body), 427, 427), CTX)
    assert obs.role is Role.ANNOUNCER and obs.fact("service_url") == url.decode()
    assert obs.fact("attr.make-and-model") == "Brother HL-L2350DW"
    assert obs.fact("attr.printer-firmware-version") == "1.61"
    assert obs.fact("attr.color-supported") is True


def test_slp_v2_service_reply_url() -> None:
    body = (
        b"\x00\x00"
        + b"\x00\x01"
        + b"\x00\x00\x3c"
        + _s(b"service:ipp://192.0.2.61:631/ipp")
        + b"\x00"
    )
    (obs,) = slp.extract(udp_frame(_v2(2, body), 427, 50000), CTX)
    assert obs.fact("service_url") == "service:ipp://192.0.2.61:631/ipp" and obs.fact("error") == 0


@pytest.mark.parametrize(
    "payload",
    [
        # 8 bytes: shorter than the SLPv1 header
        bytes.fromhex("0107016a00000000"),
        # version 3
        bytes.fromhex("0307000c000000000000000000000000"),
        # function 42
        bytes.fromhex("012a000c0000656e00031d79"),
        # SLPv1 attribute reply whose attribute list claims 0x015a bytes, 4 present
        bytes.fromhex("0107016a0000656e00031d790000015a28782d68"),
    ],
)
def test_slp_rejects_malformed_messages(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        slp.extract(udp_frame(payload, 427, 50000), CTX)
