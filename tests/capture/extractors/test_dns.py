"""dns extractor: names devices query, from an IoT set-up capture and built packets."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR

from capture.errors import DecodeError
from capture.extractors import ExtractContext, dns
from capture.observation import Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def test_dns_reports_cloud_names_a_dlink_siren_queries(corpus: Path) -> None:
    qnames = set()
    for frame in read_frames(corpus / "IoT_Sentinel/D-LinkSiren__Setup-C-10-STA.pcap"):
        if frame.is_udp and 53 in (frame.src_port, frame.dst_port):
            for obs in dns.extract(frame, CTX):
                assert obs.role is Role.CLIENT
                if obs.mac == "90:8d:78:dd:0d:60":
                    qnames.add(obs.fact("qname"))
    # MANIFEST note: the siren talks TLS to the mydlink cloud
    assert any(str(q).endswith("dlink.com") for q in qnames)


def test_dns_query_built_with_scapy() -> None:
    (obs,) = dns.extract(
        udp_frame(bytes(DNS(rd=1, qd=DNSQR(qname="time.example.org", qtype="AAAA"))), 40000, 53),
        CTX,
    )
    assert obs.fact("qname") == "time.example.org" and obs.fact("qtype") == 28


def test_dns_ignores_responses() -> None:
    msg = DNS(qr=1, qd=DNSQR(qname="a.example"), an=[DNSRR(rrname="a.example", rdata="192.0.2.1")])
    assert dns.extract(udp_frame(bytes(msg), 53, 40000), CTX) == []


def test_dns_rejects_question_with_pointer_loop() -> None:
    # one question whose name is a compression pointer to itself (offset 12)
    with pytest.raises(DecodeError):
        dns.extract(
            udp_frame(bytes.fromhex("123401000001000000000000c00c00010001"), 40000, 53), CTX
        )
