"""ldp extractor (LDP/TDP hello PDU header, RFC 5036 §3.1) on arkime/mpls-basic.pcap."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, ldp
from capture.observation import Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def test_tdp_hellos_of_both_routers(corpus: Path) -> None:
    obs = [
        o
        for frame in read_frames(corpus / "arkime/mpls-basic.pcap")
        if frame.is_udp and 711 in (frame.src_port, frame.dst_port)
        for o in ldp.extract(frame, CTX)
    ]
    # tshark: 10.1.2.1 and 10.1.2.2 broadcast UDP 711 PDUs starting 0001 0010 <LSR id> 0000
    assert {o.ip for o in obs} == {"10.1.2.1", "10.1.2.2"}
    assert all(o.role is Role.ANNOUNCER and o.fact("variant") == "tdp" for o in obs)
    assert {o.fact("lsr_id") for o in obs if o.ip == "10.1.2.1"} == {"10.1.0.1"}


def test_ldp_hello_keeps_the_message_type() -> None:
    # RFC 5036: version 1, PDU length, LSR id 192.0.2.1, label space 0, Hello (0x0100)
    body = struct.pack("!4sH", bytes([192, 0, 2, 1]), 0) + struct.pack("!HHI", 0x0100, 4, 7)
    pdu = struct.pack("!HH", 1, len(body)) + body
    (obs,) = ldp.extract(udp_frame(pdu, 646, 646, dst="224.0.0.2"), CTX)
    assert obs.fact("variant") == "ldp" and obs.fact("message_type") == 0x0100
    assert obs.fact("lsr_id") == "192.0.2.1" and obs.fact("label_space") == 0


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x01\x00",  # shorter than the header
        struct.pack("!HH6s", 2, 6, bytes(6)),  # version 2 is not defined
        struct.pack("!HH6s", 1, 40, bytes(6)),  # PDU length beyond the datagram
    ],
)
def test_rejects_malformed_pdus(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        ldp.extract(udp_frame(payload, 646, 646), CTX)
