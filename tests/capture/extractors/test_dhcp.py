"""dhcp extractor on corpus captures, Home Assistant frames and built packets (RFC 2131/2132)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from capture.errors import DecodeError
from capture.extractors import ExtractContext, dhcp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import (
    frame_from_bytes,
    frame_from_packet,
    load_fixtures,
    read_frames,
)

CTX = ExtractContext()


def _clients(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.is_udp and {67, 68} & {frame.src_port, frame.dst_port}
        for obs in dhcp.extract(frame, CTX)
        if obs.role is Role.CLIENT
    ]


def test_dhcp_extracts_hostname_and_ordered_option_55(corpus: Path) -> None:
    (obs,) = _clients(corpus / "zeek/dhcp__dhcp_time_and_nameserver.pcap")
    # MANIFEST: mac=00:90:f5:91:cd:1f hostname='pop-os' opt55=[1,28,2,3,15,6,119,12,44,47,26,121,42,4,5,249,33,252]
    assert obs.mac == "00:90:f5:91:cd:1f"
    assert obs.fact("hostname") == "pop-os"
    assert obs.fact("param_list") == (
        1,
        28,
        2,
        3,
        15,
        6,
        119,
        12,
        44,
        47,
        26,
        121,
        42,
        4,
        5,
        249,
        33,
        252,
    )
    assert obs.fact("msg_type") == "request"


@pytest.mark.parametrize(
    ("name", "mac", "hostname", "vendor_class", "param_list"),
    [
        (
            "suricata-verify/dhcp-eve-extended-option-60__input.pcap",
            "28:cf:da:dc:8d:76",
            "NicksMacBook",
            "MSFT 5.0",
            (1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 43),
        ),
        (
            "suricata-verify/dhcp-option-52-overload__input.pcap",
            "92:dd:a4:8d:5f:de",
            None,
            "udhcp 1.36.1",
            (1, 3, 6, 12, 15, 28, 42, 54, 66, 67, 119),
        ),
        (
            "IoT_Sentinel/D-LinkDayCam__Setup-C-13-STA.pcap",
            "b0:c5:54:1c:71:85",
            "DCS-930LB",
            "udhcp 1.12.1",
            (1, 3, 6, 12, 15, 28, 42),
        ),
        (
            "IoT_Sentinel/TP-LinkPlugHS100__Setup-C-9-STA.pcap",
            "50:c7:bf:00:fc:a3",
            "HS100(EU)",
            "udhcp 0.9.9-pre",
            (1, 3, 6, 12, 15, 28),
        ),
        # MANIFEST gives the relay's Ethernet source; chaddr (and option 61) is the Pi's b8:27:eb:b8:53:c8
        (
            "tcpdump/dhcp-mud.pcap",
            "b8:27:eb:b8:53:c8",
            "raspberrypi",
            "dhcpcd-6.11.5:Linux-4.1.18-v7+:armv7l:BCM2709",
            (1, 121, 33, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59, 100, 101, 119),
        ),
    ],
)
def test_dhcp_client_fingerprints_match_manifest(
    corpus: Path,
    name: str,
    mac: str,
    hostname: str | None,
    vendor_class: str,
    param_list: tuple[int, ...],
) -> None:
    clients = [o for o in _clients(corpus / name) if o.mac == mac and o.fact("param_list")]
    assert clients
    assert all(
        o.fact("hostname") == hostname and o.fact("vendor_class") == vendor_class for o in clients
    )
    assert {o.fact("param_list") for o in clients} == {param_list}


def test_dhcp_reads_mud_url_option_161(corpus: Path) -> None:
    (obs,) = _clients(corpus / "tcpdump/dhcp-mud.pcap")
    assert obs.fact("mud_url") == "https://mudctl.example.com/.well-known/mud/v1/rasbp101"


def test_dhcp_server_ack_gives_lease_and_subnet(corpus: Path) -> None:
    frames = [
        f
        for f in read_frames(corpus / "zeek/dhcp__dhcp_time_and_nameserver.pcap")
        if f.src_port == 67
    ]
    (obs,) = dhcp.extract(frames[0], CTX)
    assert obs.role is Role.SERVER and obs.fact("msg_type") == "ack"
    assert (
        obs.fact("client_mac") == "00:90:f5:91:cd:1f" and obs.fact("offered_ip") == "192.168.15.250"
    )
    assert obs.fact("subnet_mask") == "255.255.255.0"


def test_dhcp_samsung_tv_vendor_class_from_home_assistant_frame(corpus: Path) -> None:
    fixtures = load_fixtures(corpus / "home-assistant-core/dhcp-test_init-frames.json")
    tv = next(f for f in fixtures if "udhcp 1.14.3-VD" in str(f))
    (obs,) = dhcp.extract(frame_from_bytes(bytes.fromhex(tv["hex"])), CTX)
    # MANIFEST: no hostname, option 60 'udhcp 1.14.3-VD Linux VDLinux.1.2.1.x', MAC 60:6b:bd:59:e4:b4, PRL 1,3,6,12,15,28,42
    assert obs.mac == "60:6b:bd:59:e4:b4"
    assert obs.fact("vendor_class") == "udhcp 1.14.3-VD Linux VDLinux.1.2.1.x"
    assert obs.fact("hostname") is None
    assert obs.fact("param_list") == (1, 3, 6, 12, 15, 28, 42)


def test_dhcp_user_class_and_fqdn_built_with_scapy() -> None:
    pkt = (
        Ether(src="02:00:00:00:00:21", dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex("020000000021"))
        / DHCP(
            options=[
                ("message-type", "request"),
                (77, b"\x05Canon\x03MFP"),
                (81, b"\x04\x00\x00\x07printer\x03lan\x00"),
                "end",
            ]
        )
    )
    (obs,) = dhcp.extract(frame_from_packet(pkt), CTX)
    assert obs.fact("user_class") == "Canon,MFP"  # RFC 3004 instances
    assert obs.fact("fqdn") == "printer.lan"  # RFC 4702 flag E: wire-format name
    assert obs.mac == "02:00:00:00:00:21" and obs.ip is None


def _bootp(options_hex: str) -> bytes:
    header = (
        bytes.fromhex("010106000000000000000000")
        + bytes(16)
        + bytes.fromhex("020000000021")
        + bytes(202)
    )
    return header + bytes.fromhex("63825363") + bytes.fromhex(options_hex)


@pytest.mark.parametrize(
    "payload",
    [
        # 100 bytes: shorter than the 236-byte BOOTP header
        bytes(100),
        # op 3: neither BOOTREQUEST nor BOOTREPLY
        b"\x03" + _bootp("350101ff")[1:],
        # option 12 claims 40 bytes but the packet ends after 3
        _bootp("350101" + "0c28616263"),
        # no option 53: DHCP without a message type
        _bootp("0c03616263ff"),
    ],
)
def test_dhcp_rejects_malformed_messages(payload: bytes) -> None:
    pkt = Ether() / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / payload
    with pytest.raises(DecodeError):
        dhcp.extract(frame_from_packet(pkt), CTX)
