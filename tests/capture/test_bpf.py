"""The capture BPF filter: compiled by libpcap, run by the classic-BPF interpreter of capture/bpf.py
against scapy-built packets that must and must not reach Python.

The interpreter follows the kernel's semantics (linux/filter.h, Documentation/networking/
filter.rst): a load past the end of the packet ends the program with 0 (reject). The same
program is checked against the real kernel in tests/capture/test_live.py.
"""

from __future__ import annotations

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, LLC, SNAP, Dot1Q, Dot3, Ether
from scapy.packet import Packet, Raw

from capture.bpf import (
    CAPTURE_FILTER,
    MAX_INSTRUCTIONS,
    TCP_BY_PAYLOAD,
    Instruction,
    compile_bpf,
    program_bytes,
)
from capture.bpf import run_program as run_bpf
from capture.errors import CaptureError
from capture.extractors.registry import EXTRACTORS


@pytest.fixture(scope="module")
def program() -> tuple[Instruction, ...]:
    return compile_bpf(CAPTURE_FILTER)


MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
V4 = Ether(src=MAC_A, dst=MAC_B) / IP(src="10.1.0.10", dst="10.1.0.20")
V6 = Ether(src=MAC_A, dst=MAC_B) / IPv6(src="fd00::10", dst="fd00::20")
TAG = Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=42)
CLIENT_HELLO = bytes.fromhex("160301020001") + b"\x00" * 40  # record type 22, handshake type 1
TLS_APP_DATA = bytes.fromhex("1703030400") + bytes(range(256)) * 5
SERVER_HELLO = bytes.fromhex("160303003d02") + bytes(60)  # record type 22, handshake type 2
CERTIFICATE = bytes.fromhex("1603030a000b") + bytes(1200)  # handshake type 11 (Certificate)
PJL_REPLY = b'@PJL INFO ID\r\n"HP LaserJet 4250"\r\n\x0c'  # HP PJL Technical Reference

MUST_PASS: dict[str, Packet] = {
    "syn": V4 / TCP(sport=40000, dport=443, flags="S"),
    "syn_ipv6": V6 / TCP(sport=40000, dport=443, flags="S"),
    "syn_tagged": TAG / IP(src="10.1.0.10", dst="10.1.0.20") / TCP(dport=443, flags="S"),
    "syn_ipv6_tagged": TAG / IPv6(src="fd00::10", dst="fd00::20") / TCP(dport=22, flags="S"),
    "syn_ack": V4 / TCP(sport=443, dport=40000, flags="SA"),
    "rst_ack": V4 / TCP(sport=8443, dport=40000, flags="RA"),
    "fin_scan": V4 / TCP(dport=8081, flags="F"),
    "null_scan": V4 / TCP(dport=8081, flags=""),
    "xmas_scan": V4 / TCP(dport=8081, flags="FPU"),
    "arp": Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.1.0.10", pdst="10.1.0.1"),
    "arp_tagged": Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=7) / ARP(),
    "lldp": Ether(src=MAC_A, dst="01:80:c2:00:00:0e", type=0x88CC)
    / Raw(b"\x02\x07\x04" + b"\0" * 40),
    "cdp": Dot3(src=MAC_A, dst="01:00:0c:cc:cc:cc")
    / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
    / SNAP(OUI=0x00000C, code=0x2000)
    / Raw(b"\x02\xb4" + b"\0" * 30),
    "dhcp": Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff")
    / IP(src="0.0.0.0", dst="255.255.255.255")
    / UDP(sport=68, dport=67)
    / BOOTP(chaddr=b"\x02\0\0\0\0\x0a")
    / DHCP(options=[("message-type", "discover"), ("hostname", b"printer"), "end"]),
    "mdns_ipv6": V6 / UDP(sport=5353, dport=5353) / Raw(b"\0" * 12),
    "ssdp_reply_to_ephemeral_port": V4 / UDP(sport=1900, dport=51000) / Raw(b"HTTP/1.1 200 OK\r\n"),
    "snmp_response": V4 / UDP(sport=161, dport=40123) / Raw(b"\x30\x10"),
    "udp_scan_low_port": V4 / UDP(sport=40000, dport=500),
    "icmp_echo": V4 / ICMP(type=8),
    "icmp_unreachable": V4 / ICMP(type=3, code=3),
    "icmpv6_echo": V6 / ICMPv6EchoRequest(),
    "icmpv6_neighbour_solicitation": V6 / ICMPv6ND_NS(tgt="fd00::20"),
    "tls_client_hello_with_ack": V4 / TCP(sport=40000, dport=443, flags="PA") / Raw(CLIENT_HELLO),
    "tls_client_hello_ipv6": V6 / TCP(sport=40000, dport=8443, flags="PA") / Raw(CLIENT_HELLO),
    "http_get_8080": V4 / TCP(sport=40000, dport=8080, flags="PA") / Raw(b"GET / HTTP/1.1\r\n"),
    "http_response_80": V4 / TCP(sport=80, dport=40000, flags="PA") / Raw(b"HTTP/1.1 200 OK\r\n"),
    "http_get_tagged": TAG
    / IP(src="10.1.0.10", dst="10.1.0.20")
    / TCP(sport=40000, dport=80, flags="PA")
    / Raw(b"GET / HTTP/1.1\r\n"),
    "sip_register_tcp": V4
    / TCP(sport=5062, dport=5070, flags="PA")
    / Raw(b"REGISTER sip:x SIP/2.0"),
    "telnet_keystroke": V4 / TCP(sport=40000, dport=23, flags="PA") / Raw(b"a"),
    "telnet_iac_other_port": V4 / TCP(sport=2300, dport=40000, flags="PA") / Raw(b"\xff\xfb\x01"),
    "rfb_banner": V4 / TCP(sport=5901, dport=40000, flags="PA") / Raw(b"RFB 003.008\n"),
    "rfb_banner_odd_port": V4 / TCP(sport=15900, dport=40000, flags="PA") / Raw(b"RFB 003.008\n"),
    "ipp_body_631": V4 / TCP(sport=631, dport=40000, flags="PA") / Raw(bytes(1200)),
    "tls_server_hello": V4 / TCP(sport=443, dport=40000, flags="PA") / Raw(SERVER_HELLO),
    "tls_server_hello_ipv6": V6 / TCP(sport=8443, dport=40000, flags="A") / Raw(SERVER_HELLO),
    "tls_certificate_record": V4 / TCP(sport=1443, dport=40000, flags="A") / Raw(CERTIFICATE),
    "pjl_reply": V4 / TCP(sport=9100, dport=40000, flags="PA") / Raw(PJL_REPLY),
    "upnp_description_body": V4
    / TCP(sport=49152, dport=40000, flags="A")
    / Raw(b'<?xml version="1.0"?>\r\n<root xmlns="urn:schemas-upnp-org:device-1-0">'),
    "pjl_reply_after_uel": V4
    / TCP(sport=9100, dport=40000, flags="PA")
    / Raw(b"\x1b%-12345X" + PJL_REPLY),
    "rtsp_response_554": V4
    / TCP(sport=554, dport=40000, flags="PA")
    / Raw(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nServer: Dahua Rtsp Server\r\n\r\n"),
    "rtsp_describe": V4
    / TCP(sport=40000, dport=554, flags="PA")
    / Raw(b"DESCRIBE rtsp://192.0.2.20/stream1 RTSP/1.0\r\nCSeq: 2\r\n\r\n"),
    "sccp_station_message": V4 / TCP(sport=50000, dport=2000, flags="PA") / Raw(bytes(60)),
    "kasa_reply_to_app": V4 / UDP(sport=9999, dport=50000) / Raw(bytes(300)),
    "edimax_reply_to_app": V4 / UDP(sport=20560, dport=50000) / Raw(bytes(186)),
}
# How each TCP_BY_PAYLOAD extractor's traffic gets in (tests below: one sample each).
BY_PAYLOAD_SAMPLES = {
    "http": "http_response_80",
    "tls": "tls_server_hello",
    "rfb": "rfb_banner",
    "pjl": "pjl_reply",
    "rtsp": "rtsp_response_554",
}

MUST_NOT_PASS: dict[str, Packet] = {
    "https_bulk_data": V4 / TCP(sport=443, dport=40000, flags="A") / Raw(TLS_APP_DATA),
    "https_bulk_data_push": V4 / TCP(sport=443, dport=40000, flags="PA") / Raw(TLS_APP_DATA),
    "https_bulk_ipv6": V6 / TCP(sport=443, dport=40000, flags="A") / Raw(TLS_APP_DATA),
    "https_bulk_tagged": TAG
    / IP(src="10.1.0.10", dst="10.1.0.20")
    / TCP(sport=443, dport=40000, flags="A")
    / Raw(TLS_APP_DATA),
    "bare_ack": V4 / TCP(sport=40000, dport=443, flags="A"),
    "bare_ack_tagged": TAG / IP(src="10.1.0.10", dst="10.1.0.20") / TCP(dport=443, flags="A"),
    "fin_ack_close": V4 / TCP(sport=40000, dport=443, flags="FA"),
    "http_body_continuation": V4 / TCP(sport=80, dport=40000, flags="A") / Raw(bytes(1400)),
    "quic_to_server": V4 / UDP(sport=50000, dport=443) / Raw(b"\x40" + bytes(1200)),
    "quic_from_server": V4 / UDP(sport=443, dport=50000) / Raw(b"\x40" + bytes(1200)),
    "rtp_media": V4 / UDP(sport=16384, dport=16386) / Raw(b"\x80" + bytes(160)),
    "rfb_framebuffer_update": V4 / TCP(sport=5900, dport=40000, flags="A") / Raw(bytes(1400)),
    "rtsp_interleaved_rtp": V4
    / TCP(sport=554, dport=40000, flags="A")
    / Raw(b"$\x00\x05\xc0\x80\x60" + bytes(1400)),
    "print_job_data": V4 / TCP(sport=40000, dport=9100, flags="A") / Raw(bytes(1400)),
    "tls_certificate_continuation": V4
    / TCP(sport=443, dport=40000, flags="A")
    / Raw(bytes.fromhex("3082") + bytes(1200)),
    "icmp_time_exceeded": V4 / ICMP(type=11),
}


@pytest.mark.parametrize("name", sorted(MUST_PASS))
def test_filter_admits_what_detectors_need(program: tuple[Instruction, ...], name: str) -> None:
    assert run_bpf(program, bytes(MUST_PASS[name])) > 0


@pytest.mark.parametrize("name", sorted(MUST_NOT_PASS))
def test_filter_keeps_bulk_traffic_in_the_kernel(
    program: tuple[Instruction, ...], name: str
) -> None:
    assert run_bpf(program, bytes(MUST_NOT_PASS[name])) == 0


def test_filter_fits_the_kernel_instruction_limit(program: tuple[Instruction, ...]) -> None:
    assert 0 < len(program) <= MAX_INSTRUCTIONS
    assert len(program_bytes(program)) == 8 * len(program)  # struct sock_filter is 8 bytes


def test_snaplen_becomes_the_accepted_length() -> None:
    program = compile_bpf(CAPTURE_FILTER, snaplen=200)
    returns = {ins.k for ins in program if ins.code == 0x06}
    assert returns == {0, 200}
    assert run_bpf(program, bytes(MUST_PASS["ipp_body_631"])) == 200


def test_interpreter_agrees_with_a_trivial_program() -> None:
    # "udp" for Ethernet: ethertype IPv4 and protocol 17, or IPv6 and next header 17 (or a
    # fragment header followed by 17). Checks the interpreter itself on a known answer.
    udp = compile_bpf("udp")
    assert run_bpf(udp, bytes(V4 / UDP(dport=9))) > 0
    assert run_bpf(udp, bytes(V4 / TCP(dport=9))) == 0
    assert run_bpf(udp, b"\x00" * 10) == 0  # loads past the end reject


def test_bad_expression_raises_capture_error() -> None:
    with pytest.raises(CaptureError):
        compile_bpf("tcp and and udp")


def _ports(kind: str) -> list[tuple[str, int]]:
    return sorted(
        (m.NAME, port)
        for m in EXTRACTORS
        for port in (m.UDP_PORTS if kind == "udp" else m.TCP_PORTS)
        if kind == "udp" or m.NAME not in TCP_BY_PAYLOAD
    )


@pytest.mark.parametrize(("extractor", "port"), _ports("udp"))
def test_filter_admits_every_udp_port_an_extractor_reads_both_ways(
    program: tuple[Instruction, ...], extractor: str, port: int
) -> None:
    for sport, dport in ((50000, port), (port, 50000)):
        assert run_bpf(program, bytes(V4 / UDP(sport=sport, dport=dport) / Raw(bytes(200))))
        assert run_bpf(program, bytes(V6 / UDP(sport=sport, dport=dport) / Raw(bytes(200))))


@pytest.mark.parametrize(("extractor", "port"), _ports("tcp"))
def test_filter_admits_whole_flows_of_every_tcp_port_an_extractor_reads(
    program: tuple[Instruction, ...], extractor: str, port: int
) -> None:
    for sport, dport in ((50000, port), (port, 50000)):
        data = V4 / TCP(sport=sport, dport=dport, flags="A") / Raw(bytes(200))
        assert run_bpf(program, bytes(data))


def test_every_extractor_admitted_by_payload_has_a_sample_that_passes(
    program: tuple[Instruction, ...],
) -> None:
    names = {m.NAME for m in EXTRACTORS}
    assert set(BY_PAYLOAD_SAMPLES) == set(TCP_BY_PAYLOAD) and names >= TCP_BY_PAYLOAD
    for sample in BY_PAYLOAD_SAMPLES.values():
        assert run_bpf(program, bytes(MUST_PASS[sample]))
