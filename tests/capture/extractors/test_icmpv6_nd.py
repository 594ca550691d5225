"""icmpv6_nd extractor on captured solicitations and built ND messages (RFC 4861/4862)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from capture.errors import DecodeError
from capture.extractors import ExtractContext, icmpv6_nd
from tests.capture.extractors.framing import frame_from_bytes, frame_from_packet, read_frames

CTX = ExtractContext()


def test_nd_android_phone_announces_its_link_local_address(corpus: Path) -> None:
    obs = [
        o
        for f in read_frames(corpus / "nDPI/android.pcap")
        if icmpv6_nd.wants(f)
        for o in icmpv6_nd.extract(f, CTX)
    ]
    phone = [o for o in obs if o.mac == "4c:6a:f6:9f:f6:27"]
    # modified EUI-64 of 4c:6a:f6:9f:f6:27 (RFC 4291 App. A: flip bit 0x02 of the first byte)
    eui64 = "fe80::4e6a:f6ff:fe9f:f627"
    dad = next(o for o in phone if o.fact("kind") == "ns")
    assert dad.fact("dad") is True and dad.ip == eui64 and dad.fact("target") == eui64
    rs = next(o for o in phone if o.fact("kind") == "rs")
    assert rs.fact("lladdr") == "4c:6a:f6:9f:f6:27"


def test_nd_router_advertisement_gives_prefix_and_router() -> None:
    pkt = (
        Ether(src="02:00:00:00:00:02")
        / IPv6(src="fe80::2", dst="ff02::1")
        / ICMPv6ND_RA(M=1)
        / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02")
        / ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64)
    )
    frame = frame_from_packet(pkt)
    assert icmpv6_nd.wants(frame)
    (obs,) = icmpv6_nd.extract(frame, CTX)
    assert obs.fact("router") is True and obs.fact("managed") is True
    assert obs.fact("prefixes") == ("2001:db8:1::/64",)


def test_nd_neighbor_advertisement_router_flag() -> None:
    pkt = (
        Ether(src="02:00:00:00:00:03")
        / IPv6(src="fe80::3", dst="ff02::1")
        / ICMPv6ND_NA(R=1, tgt="fe80::3")
    )
    (obs,) = icmpv6_nd.extract(frame_from_packet(pkt), CTX)
    assert obs.fact("kind") == "na" and obs.fact("router") is True and obs.ip == "fe80::3"


def test_nd_ignores_echo_requests() -> None:
    pkt = Ether() / IPv6(src="fe80::1", dst="fe80::2") / ICMPv6ND_NS(tgt="fe80::2")
    frame = frame_from_packet(pkt)
    frame.icmp_type = 128  # an echo request is not ND
    assert not icmpv6_nd.wants(frame)


def _nd_frame(icmp_hex: str) -> bytes:
    icmp = bytes.fromhex(icmp_hex)
    ipv6 = bytes.fromhex("60000000") + len(icmp).to_bytes(2, "big") + b"\x3a\xff"
    ipv6 += bytes.fromhex("fe800000000000000000000000000001") + bytes.fromhex(
        "ff020000000000000000000000000001"
    )
    return bytes.fromhex("33330000000102000000000186dd") + ipv6 + icmp


@pytest.mark.parametrize(
    "icmp_hex",
    [
        # neighbour solicitation cut after 12 bytes (needs 24: header, reserved, target)
        "8700000000000000fe800000",
        # router solicitation with an option of length 0 (RFC 4861 §4.6: invalid)
        "8500000000000000" + "0100020000000001",
        # router solicitation whose option claims 2 units (16 bytes), 8 present
        "8500000000000000" + "0102020000000001",
    ],
)
def test_nd_rejects_malformed_messages(icmp_hex: str) -> None:
    with pytest.raises(DecodeError):
        icmpv6_nd.extract(frame_from_bytes(_nd_frame(icmp_hex)), CTX)
