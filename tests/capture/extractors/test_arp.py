"""arp extractor on the ARP-poisoning capture and built packets (RFC 826, RFC 5227)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.l2 import ARP, Ether

from capture.errors import DecodeError
from capture.extractors import ExtractContext, arp
from capture.observation import Role
from tests.capture.extractors.framing import frame_from_bytes, frame_from_packet, read_frames

CTX = ExtractContext()


def test_arp_reports_poisoning_reply_claiming_the_gateway(corpus: Path) -> None:
    replies = [
        obs
        for frame in read_frames(corpus / "chrissanders-packets/arppoison.pcapng")
        if frame.ethertype == 0x0806
        for obs in arp.extract(frame, CTX)
        if obs.fact("op") == "reply"
    ]
    # MANIFEST: 00:25:b3:bf:91:ee answers "172.16.0.1 is at 00:25:b3:bf:91:ee" to the victim
    assert any(
        o.mac == "00:25:b3:bf:91:ee"
        and o.fact("sender_ip") == "172.16.0.1"
        and o.fact("target_ip") == "172.16.0.107"
        for o in replies
    )
    assert all(o.role is Role.PEER and o.protocol == "arp" for o in replies)


def test_arp_gratuitous_announcement() -> None:
    pkt = Ether(src="02:00:00:00:00:05", dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc="02:00:00:00:00:05", psrc="192.0.2.5", pdst="192.0.2.5"
    )
    (obs,) = arp.extract(frame_from_packet(pkt), CTX)
    assert obs.fact("gratuitous") is True and obs.ip == "192.0.2.5"


def test_arp_probe_has_no_sender_address() -> None:
    pkt = Ether(src="02:00:00:00:00:06") / ARP(
        op=1, hwsrc="02:00:00:00:00:06", psrc="0.0.0.0", pdst="192.0.2.6"
    )
    (obs,) = arp.extract(frame_from_packet(pkt), CTX)
    assert obs.fact("probe") is True and obs.ip is None and obs.mac == "02:00:00:00:00:06"


def test_arp_keeps_ethernet_source_when_it_differs_from_sender() -> None:
    pkt = Ether(src="02:00:00:00:00:07") / ARP(
        op=2, hwsrc="02:00:00:00:00:99", psrc="192.0.2.1", pdst="192.0.2.7"
    )
    (obs,) = arp.extract(frame_from_packet(pkt), CTX)
    assert obs.mac == "02:00:00:00:00:99" and obs.fact("eth_src") == "02:00:00:00:00:07"


@pytest.mark.parametrize(
    "hex_body",
    [
        # ARP body of 20 bytes: cut before the target addresses
        "0001080006040001020000000001c0000201000000000000",
        # hardware type 6 (IEEE 802) with hlen 6: not Ethernet
        "0006080006040001020000000001c0000201000000000000c0000202",
        # opcode 9: not request or reply
        "0001080006040009020000000001c0000201000000000000c0000202",
    ],
)
def test_arp_rejects_malformed_bodies(hex_body: str) -> None:
    header = bytes.fromhex("ffffffffffff0200000000010806")
    with pytest.raises(DecodeError):
        arp.extract(frame_from_bytes(header + bytes.fromhex(hex_body)), CTX)
