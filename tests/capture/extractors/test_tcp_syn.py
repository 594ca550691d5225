"""TCP SYN/SYN-ACK fingerprint features: scapy-built segments, a real nmap scan, bad options."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from capture.errors import DecodeError
from capture.extractors import ExtractContext, tcp_syn
from capture.observation import Role
from tests.capture.extractors.tcpframes import frame_of, read_frames

LINUX_OPTIONS = [
    ("MSS", 1460),
    ("SAckOK", b""),
    ("Timestamp", (1, 0)),
    ("NOP", None),
    ("WScale", 7),
]


def _syn(flags: str = "S", options: list[tuple[str, object]] | None = None, **ip: object) -> object:
    return (
        Ether(src="02:00:00:00:00:0c", dst="02:00:00:00:00:05")
        / IP(src="192.0.2.10", dst="192.0.2.5", **ip)
        / TCP(sport=40000, dport=22, flags=flags, window=64240, options=options or [])
    )


def test_tcp_syn_reads_linux_style_syn_features() -> None:
    frame = frame_of(_syn(options=LINUX_OPTIONS, ttl=64))
    [obs] = tcp_syn.extract(frame, ExtractContext())
    assert obs.role is Role.CLIENT
    assert obs.mac == "02:00:00:00:00:0c"
    assert dict(obs.facts) == {
        "ttl": 64,
        "window": 64240,
        "mss": 1460,
        "wscale": 7,
        "options": "M,S,T,N,W",
        "df": False,
        "port": 22,
        "ip_version": 4,
    }


def test_tcp_syn_ack_is_the_server_side_with_its_own_port() -> None:
    pkt = (
        Ether(src="02:00:00:00:00:05", dst="02:00:00:00:00:0c")
        / IP(src="192.0.2.5", dst="192.0.2.10", ttl=128, flags="DF")
        / TCP(
            sport=445,
            dport=40000,
            flags="SA",
            window=8192,
            options=[
                ("MSS", 1460),
                ("NOP", None),
                ("WScale", 8),
                ("NOP", None),
                ("NOP", None),
                ("SAckOK", b""),
            ],
        )
    )
    [obs] = tcp_syn.extract(frame_of(pkt), ExtractContext())
    assert obs.role is Role.SERVER
    assert obs.ip == "192.0.2.5"
    assert (obs.facts["port"], obs.facts["df"], obs.facts["ttl"]) == (445, True, 128)
    assert obs.facts["options"] == "M,N,W,N,N,S"


def test_tcp_syn_ignores_segments_without_syn() -> None:
    frame = frame_of(_syn(flags="A"))
    assert not tcp_syn.wants(frame)
    assert tcp_syn.extract(frame, ExtractContext()) == []


@pytest.mark.corpus
def test_tcp_syn_sees_the_thousand_port_nmap_scan_and_scanme_answers(corpus: Path) -> None:
    ctx = ExtractContext()
    probes: set[int] = set()
    answers: dict[int, dict[str, object]] = {}
    for frame in read_frames(corpus / "chrissanders-packets/synscan.pcapng"):
        if not tcp_syn.wants(frame):
            continue
        for obs in tcp_syn.extract(frame, ctx):
            if obs.role is Role.CLIENT and obs.ip == "172.16.0.8":
                probes.add(int(str(obs.facts["port"])))
            elif obs.role is Role.SERVER and obs.ip == "64.13.134.52":
                answers[int(str(obs.facts["port"]))] = dict(obs.facts)
    # MANIFEST.md: SYN probes 172.16.0.8 -> 64.13.134.52, 1000 distinct dst ports.
    assert len(probes) == 1000
    # tshark 4.0 on the same file: SYN-ACKs from ports 22, 53, 80 with TTL 54, window 5840,
    # MSS 1380, DF set.
    assert set(answers) == {22, 53, 80}
    for facts in answers.values():
        assert (facts["ttl"], facts["window"], facts["mss"], facts["df"]) == (54, 5840, 1380, True)


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (bytes.fromhex("0204"), "MSS option cut after its length byte"),
        (bytes.fromhex("02"), "option kind with no length byte"),
        (bytes.fromhex("0201"), "length 1 is below the minimum of 2"),
        (bytes.fromhex("080a0000"), "timestamp option claims 10 bytes, 4 present"),
    ],
)
def test_tcp_syn_malformed_options_raise_decode_error(options: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        tcp_syn.parse_options(options)


def test_tcp_syn_layout_stops_at_end_of_list_and_names_unknown_kinds() -> None:
    assert tcp_syn.parse_options(bytes.fromhex("0204058c1e02000000ffff")) == (
        "M,?30,E",
        1420,
        None,
    )


# What the triage would copy from headers carrying arbitrary option bytes.
SYN = frame_of(_syn(flags="S"))
SYNACK = frame_of(_syn(flags="SA"))


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=40), synack=st.booleans())
def test_tcp_syn_raises_only_decode_error_on_arbitrary_options(raw: bytes, synack: bool) -> None:
    frame = dataclasses.replace(SYNACK if synack else SYN, tcp_options=raw)
    with contextlib.suppress(DecodeError):
        tcp_syn.extract(frame, ExtractContext())
