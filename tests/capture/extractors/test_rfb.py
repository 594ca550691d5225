"""RFB/VNC extractor: corpus handshakes (3.3, 3.7, 3.8, Apple), built None-auth handshakes."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, rfb
from capture.observation import Observation, Role
from tests.capture.extractors.tcpframes import (
    SERVER_IP,
    SERVER_MAC,
    conversation,
    read_frames,
    run,
    tcp_frame,
)

HANDSHAKE_PACKETS = 200  # the handshakes sit at the start; the 3.3 file has 4763 packets


def _handshake(corpus: Path, name: str) -> list[Observation]:
    ports = rfb.TCP_PORTS
    frames = (
        f
        for f in itertools.islice(read_frames(corpus / name), HANDSHAKE_PACKETS)
        if f.is_tcp and (f.src_port in ports or f.dst_port in ports or rfb.wants(f))
    )
    return run(rfb, frames)


# MANIFEST.md "RFB:" lines: server version, security types offered, type selected.
@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "server", "version", "offered", "selected"),
    [
        (
            "suricata-verify/rfb-rules__00-vnc-openwall-3.7.pcap",
            "192.168.1.103",
            "003.007",
            (18, 2),
            2,
        ),
        ("zeek/rfb__vncmac.pcap", "192.168.2.16", "003.889", (30, 35), 30),
    ],
)
def test_rfb_reads_manifest_versions_offered_and_selected_types(
    corpus: Path, name: str, server: str, version: str, offered: tuple[int, ...], selected: int
) -> None:
    observations = _handshake(corpus, name)
    servers = [o for o in observations if o.role is Role.SERVER]
    assert {o.ip for o in servers} == {server}
    # The viewer's own version line is one observation about the viewer.
    viewers = [o for o in observations if o.role is Role.CLIENT]
    assert viewers and {o.facts["viewer_version"] for o in viewers} == {version}
    assert server not in {o.ip for o in viewers}
    last = servers[-1].facts
    assert (last["version"], last["client_version"]) == (version, version)
    assert (last["security_types"], last["selected_type"]) == (offered, selected)


@pytest.mark.corpus
def test_rfb_openwall_vnc_auth_result_is_ok(corpus: Path) -> None:
    # The capture's SecurityResult after the VNC-Auth challenge is U32 0 (OK), and the
    # session goes on to ServerInit ("aneagles@localhost" desktop).
    last = _handshake(corpus, "suricata-verify/rfb-rules__00-vnc-openwall-3.7.pcap")[-1]
    assert last.facts["auth_result"] == "ok"
    assert last.facts["port"] == 5900


@pytest.mark.corpus
def test_rfb_3_3_server_mandates_vnc_auth(corpus: Path) -> None:
    last = _handshake(corpus, "suricata-verify/rfb-protocol-3.3__06-vnc-Password-3.3.pcap")[-1]
    # MANIFEST.md: server 003.003, offered 2 (VNC-Auth); in 3.3 the server's one type is
    # also the type in force (there is no client choice), so selected_type is 2 as well.
    assert (last.facts["version"], last.facts["security_types"]) == ("003.003", (2,))
    assert last.facts["selected_type"] == 2


@pytest.mark.corpus
def test_rfb_3_8_security_failure_has_no_types_and_a_reason(corpus: Path) -> None:
    last = _handshake(corpus, "suricata-verify/rfb-failure__rfb_failure_16.pcap")[-1].facts
    # MANIFEST.md: server 003.008, types offered n/a. The bytes: count 0, then a 16-byte
    # reason of "A"s (the test's name says "failure_16").
    assert (last["version"], last["security_types"], last["auth_result"]) == (
        "003.008",
        (),
        "failed",
    )
    assert last["failure_reason"] == "A" * 16


@pytest.mark.corpus
def test_rfb_scanner_session_ends_in_authentication_failure(corpus: Path) -> None:
    observations = [
        o for o in _handshake(corpus, "zeek/rfb__vnc-scanner.pcap") if o.role is Role.SERVER
    ]
    last = observations[-1].facts
    assert last["version"] == "003.008"  # MANIFEST.md
    # The server's bytes: SecurityResult 1 then "Authentication failed from ..." (3.8 reason).
    assert last["auth_result"] == "failed"
    assert str(last["failure_reason"]).startswith("Authentication failed from")
    # Every observation names the server's own MAC, also those made from client segments.
    assert len({o.mac for o in observations}) == 1


def test_rfb_none_security_offered_and_chosen_in_3_8() -> None:
    frames = conversation(
        [
            (True, b"RFB 003.008\n"),
            (False, b"RFB 003.008\n"),
            (True, bytes([2, 1, 2])),  # two types: None (1), VNC Authentication (2)
            (False, bytes([1])),  # the client picks None
            (True, bytes(4)),  # SecurityResult OK
            (False, bytes([1])),  # ClientInit (shared)
        ],
        dport=5900,
    )
    observations = run(rfb, frames)
    [viewer] = [o for o in observations if o.role is Role.CLIENT]
    assert dict(viewer.facts) == {"viewer_version": "003.008"}
    assert viewer.ip != SERVER_IP
    observations = [o for o in observations if o.role is Role.SERVER]
    last = observations[-1]
    assert (last.mac, last.ip, last.role) == (SERVER_MAC, SERVER_IP, Role.SERVER)
    assert dict(last.facts) == {
        "version": "003.008",
        "client_version": "003.008",
        "security_types": (1, 2),
        "selected_type": 1,
        "auth_result": "ok",
        "port": 5900,
    }
    assert len(observations) == 4  # version, types, choice, result


def test_rfb_3_3_server_imposing_none() -> None:
    frames = conversation(
        [(True, b"RFB 003.003\n"), (False, b"RFB 003.003\n"), (True, (1).to_bytes(4, "big"))],
        dport=5901,
    )
    last = run(rfb, frames)[-1].facts
    assert (last["security_types"], last["selected_type"], last["auth_result"]) == ((1,), 1, None)


def test_rfb_on_any_port_is_wanted_from_the_version_message() -> None:
    assert rfb.wants(tcp_frame(b"RFB 003.008\n", dport=15900, from_server=True))
    assert not rfb.wants(tcp_frame(b"RFB 003.008\nxx", dport=15900, from_server=True))


def test_rfb_framebuffer_traffic_after_the_handshake_is_ignored() -> None:
    ctx = ExtractContext()
    frames = conversation(
        [
            (True, b"RFB 003.008\n"),
            (False, b"RFB 003.008\n"),
            (True, b"\x01\x01"),
            (False, b"\x01"),
            (True, bytes(4)),  # SecurityResult OK: the handshake is over
        ],
        dport=5900,
    )
    run(rfb, frames, ctx)
    late = tcp_frame(b"\x00" * 1400, dport=5900, from_server=True, seq=6000)
    assert rfb.extract(late, ctx) == []
    assert rfb.extract(tcp_frame(b"\x00\x01junk", dport=5900), ExtractContext()) == []


@pytest.mark.parametrize(
    "version",
    [
        bytes.fromhex("524642203078332e3030380a"),  # "RFB 0x3.008\n": not three digits
        bytes.fromhex("524642203030332e30303839"),  # "RFB 003.0089": no newline at byte 12
    ],
)
def test_rfb_malformed_server_version_raises_decode_error(version: bytes) -> None:
    with pytest.raises(DecodeError):
        rfb.extract(tcp_frame(version, dport=5900, from_server=True), ExtractContext())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=64)), max_size=8))
def test_rfb_raises_only_decode_error_on_arbitrary_handshakes(
    segments: list[tuple[bool, bytes]],
) -> None:
    ctx = ExtractContext()
    start = [(True, b"RFB 003.008\n"), (False, b"RFB 003.007\n")]
    for frame in conversation(start + segments, dport=5900):
        with contextlib.suppress(DecodeError):
            rfb.extract(frame, ctx)
