"""Robustness: the capture-file readers raise nothing but CaptureFileError on arbitrary bytes
(hypothesis), and ≥ 100,000 scapy-fuzzed malformed discovery packets go through the pipeline
with zero crashes (slow: `make test-slow`).
"""

from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture.errors import CaptureFileError
from capture.sniffer import open_capture

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
PCAPNG_SHB = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
PCAPNG_IDB = struct.pack("<IIHHII", 1, 20, 1, 0, 0, 20)


def read_all(content: bytes) -> int:
    """Packets read before the end or the first CaptureFileError (the only error allowed)."""
    with tempfile.NamedTemporaryFile(suffix=".cap") as fh:
        fh.write(content)
        fh.flush()
        count = 0
        try:
            for packet in open_capture(Path(fh.name)):
                assert isinstance(packet.data, bytes)
                assert packet.wire_len >= 0
                count += 1
        except CaptureFileError as exc:
            assert 0 <= exc.offset <= len(content)
        return count


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_capture_file_error(content: bytes) -> None:
    read_all(content)


@FUZZ
@given(st.binary(max_size=1024))
def test_pcap_header_then_garbage_raises_only_capture_file_error(tail: bytes) -> None:
    read_all(PCAP_HEADER + tail)


@FUZZ
@given(st.binary(max_size=1024))
def test_pcapng_section_then_garbage_raises_only_capture_file_error(tail: bytes) -> None:
    read_all(PCAPNG_SHB + PCAPNG_IDB + tail)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=64)), max_size=8))
def test_pcapng_blocks_with_random_types_and_bodies(blocks: list[tuple[int, bytes]]) -> None:
    content = PCAPNG_SHB + PCAPNG_IDB
    for block_type, body in blocks:
        body += b"\0" * (-len(body) % 4)
        total = len(body) + 12
        content += struct.pack("<II", block_type, total) + body + struct.pack("<I", total)
    read_all(content)


# --- scapy-fuzzed packets through the pipeline (slow) ------------------------------------------

FUZZED_PACKETS_MIN = 100_000


def discovery_templates() -> list[tuple[Any, Any]]:
    """Per discovery/identity protocol: valid outer headers and the layer fuzz() randomises."""
    from scapy.contrib.cdp import CDPMsgDeviceID, CDPMsgPlatform, CDPMsgSoftwareVersion, CDPv2_HDR
    from scapy.contrib.lldp import (
        LLDPDUChassisID,
        LLDPDUEndOfLLDPDU,
        LLDPDUPortID,
        LLDPDUSystemDescription,
        LLDPDUSystemName,
        LLDPDUTimeToLive,
    )
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dhcp6 import DHCP6_Solicit, DHCP6OptClientId, DHCP6OptVendorClass
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, IPv6
    from scapy.layers.l2 import ARP, LLC, SNAP, Dot1Q, Dot3, Ether
    from scapy.layers.llmnr import LLMNRQuery
    from scapy.layers.netbios import NBNSQueryRequest
    from scapy.layers.ntp import NTPHeader
    from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind
    from scapy.packet import Raw

    eth = Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff")
    v4 = eth / IP(src="10.0.0.10", dst="10.0.0.255")
    v6 = eth / IPv6(src="fe80::10", dst="ff02::1")
    snap = LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x0C, code=0x2000)
    lldp_dst = Ether(src="02:00:00:00:00:0b", dst="01:80:c2:00:00:0e")
    # (headers kept valid, the layer fuzz() randomises)
    return [
        (v4 / UDP(sport=68, dport=67), BOOTP() / DHCP(options=[("message-type", 1), ("hostname", b"x"), "end"])),
        (v4 / UDP(sport=5353, dport=5353), DNS(qr=1, an=DNSRR(rrname="a._ipp._tcp.local", type="PTR"))),
        (v4 / UDP(sport=53000, dport=53), DNS(qd=DNSQR(qname="example.com"))),
        (v4 / UDP(sport=1900, dport=1900), Raw(b"NOTIFY * HTTP/1.1\r\nSERVER: Linux UPnP/1.0\r\n\r\n")),
        (v4 / UDP(sport=137, dport=137), NBNSQueryRequest()),
        (v4 / UDP(sport=5355, dport=5355), LLMNRQuery(qd=DNSQR(qname="printer"))),
        (v4 / UDP(sport=161, dport=40000), SNMP(community="public", PDU=SNMPresponse(varbindlist=[SNMPvarbind()]))),
        (v4 / UDP(sport=40000, dport=161), SNMP(PDU=SNMPget())),
        (v4 / UDP(sport=123, dport=123), NTPHeader()),
        (v4 / UDP(sport=3702, dport=3702), Raw(b"<?xml version='1.0'?><s:Envelope/>")),
        (v4 / UDP(sport=427, dport=427), Raw(b"\x02\x01\x00\x00\x30")),
        (v4 / UDP(sport=5060, dport=5060), Raw(b"REGISTER sip:a SIP/2.0\r\nUser-Agent: X\r\n\r\n")),
        (v4, TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1460), ("WScale", 7)])),
        (v4 / TCP(sport=23, dport=40000, flags="PA"), Raw(b"\xff\xfb\x01login: ")),
        (v4 / TCP(sport=5900, dport=40000, flags="PA"), Raw(b"RFB 003.008\n")),
        (v4 / TCP(sport=40000, dport=443, flags="PA"), Raw(bytes.fromhex("160301002a0100002603"))),
        (v4 / TCP(sport=80, dport=40000, flags="PA"), Raw(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n")),
        (v4, ICMP(type=8)),
        (eth, ARP(psrc="10.0.0.10", pdst="10.0.0.1")),
        (eth / Dot1Q(vlan=5), ARP()),
        (v6, ICMPv6ND_NS(tgt="fe80::1")),
        (v6, ICMPv6ND_NA(tgt="fe80::1")),
        (v6 / UDP(sport=546, dport=547), DHCP6_Solicit() / DHCP6OptClientId() / DHCP6OptVendorClass()),
        (lldp_dst, LLDPDUChassisID(subtype=4, id=b"\x02\0\0\0\0\x0b") / LLDPDUPortID(subtype=5, id=b"1")
         / LLDPDUTimeToLive(ttl=120) / LLDPDUSystemName(system_name=b"sw")
         / LLDPDUSystemDescription(description=b"desc") / LLDPDUEndOfLLDPDU()),
        (Dot3(src="02:00:00:00:00:0c", dst="01:00:0c:cc:cc:cc") / snap,
         CDPv2_HDR(msg=[CDPMsgDeviceID(val=b"SEP0001"), CDPMsgPlatform(val=b"Cisco IP Phone 7960"),
                        CDPMsgSoftwareVersion(val=b"P003")])),
    ]  # fmt: skip


def fuzzed_frames(count: int, seed: int) -> list[bytes]:
    """`count` malformed frames: fuzz() randomises every field scapy lets it (lengths,
    checksums, flags, options), then a bit flip or a cut on some of them."""
    from scapy.config import conf
    from scapy.packet import fuzz

    random.seed(seed)  # scapy's volatile values draw from the random module
    rng = random.Random(seed)
    templates = discovery_templates()
    lldp = conf.contribs["LLDP"]
    lldp.strict_mode_disable()  # let fuzz() break LLDP TLV lengths (scapy refuses to build them)
    frames: list[bytes] = []
    attempts = 0
    try:
        while len(frames) < count:
            outer, inner = templates[attempts % len(templates)]
            attempts += 1
            try:
                if rng.random() < 0.85:  # fuzz the protocol layer; lengths, checksums stay right
                    raw = bytearray(bytes(outer / fuzz(inner.copy())))
                else:  # fuzz every layer, headers included
                    raw = bytearray(bytes(fuzz((outer / inner).copy())))
            except Exception:  # scapy cannot build some random combinations: draw again
                continue
            roll = rng.random()
            if roll < 0.3 and raw:
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            elif roll < 0.45 and raw:
                del raw[rng.randrange(len(raw)) :]
            frames.append(bytes(raw))
    finally:
        lldp.strict_mode_enable()
    return frames


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_hundred_thousand_fuzzed_packets_do_not_crash_the_pipeline() -> None:
    from capture.pipeline import Pipeline
    from firmware.config import load_config

    pipeline = Pipeline(load_config(), strict=False)
    at = 1_700_000_000.0
    for i, frame in enumerate(fuzzed_frames(FUZZED_PACKETS_MIN, seed=20261127)):
        pipeline.process(frame, at + i * 0.001, 1, None)
    pipeline.finish()
    stats = pipeline.snapshot()
    assert stats.packets == FUZZED_PACKETS_MIN
    assert stats.errors == {}, stats.errors  # exceptions other than DecodeError drops
    assert stats.dissected > FUZZED_PACKETS_MIN // 4  # the fuzzing reached the extractors
