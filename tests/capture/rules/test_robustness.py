"""The detectors take any frame the triage can parse without raising (strict engine)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.rules.engine import RuleEngine, parse_arp
from capture.triage import is_counted, parse_frame
from firmware.config import config_from_dict
from tests.capture.rules.packets import SCANNER_MAC, TARGET_MAC, ethernet

ENGINE = RuleEngine(config_from_dict({"detect": {"sources_tracked_max": 64}}).detect, strict=True)

# Ethernet headers whose bodies hypothesis fills: IPv4, IPv6, ARP, 802.1Q.
HEADERS = [
    ethernet(SCANNER_MAC, TARGET_MAC, ethertype, b"")
    for ethertype in (0x0800, 0x86DD, 0x0806, 0x8100)
]


@settings(max_examples=400, deadline=None)
@given(header=st.sampled_from(HEADERS), body=st.binary(max_size=96), at=st.floats(0, 2e9))
def test_engine_takes_any_parsable_frame(header: bytes, body: bytes, at: float) -> None:
    try:
        frame = parse_frame(header + body, at, 1)
    except DecodeError:
        return
    if is_counted(frame) or frame.ethertype == 0x0806:
        ENGINE.on_frame(frame)
    ENGINE.tick(at)
    ENGINE.drain()


def test_truncated_or_foreign_arp_is_ignored() -> None:
    short = ethernet(SCANNER_MAC, TARGET_MAC, 0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01")
    token_ring = ethernet(
        SCANNER_MAC, TARGET_MAC, 0x0806, struct.pack("!HHBBH", 6, 0x0800, 6, 4, 1) + bytes(20)
    )
    for data in (short, token_ring):
        frame = parse_frame(data, 1.0, 1)
        assert parse_arp(frame) is None
        ENGINE.on_frame(frame)
