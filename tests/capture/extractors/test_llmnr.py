"""llmnr extractor on suricata-verify LLMNR captures (RFC 4795)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, llmnr
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    out: list[Observation] = []
    for frame in read_frames(path):
        if 5355 in (frame.src_port, frame.dst_port):
            out.extend(llmnr.extract(frame, CTX))
    return out


def test_llmnr_udp_query_and_owner_answer(corpus: Path) -> None:
    # MANIFEST: LLMNR query "hs2011"; tshark: 192.168.10.101 answers A 192.168.10.101
    query, answer = _observations(corpus / "suricata-verify/llmnr__llmnr-udp__input.pcap")
    assert (
        query.role is Role.CLIENT
        and query.fact("name") == "hs2011"
        and query.ip == "192.168.10.233"
    )
    assert answer.role is Role.ANNOUNCER and answer.fact("name") == "HS2011"
    assert answer.ip == "192.168.10.101" and answer.fact("addresses") == ("192.168.10.101",)


def test_llmnr_tcp_messages_skip_length_prefix(corpus: Path) -> None:
    obs = _observations(corpus / "suricata-verify/llmnr__llmnr-tcp__input.pcap")
    assert {(o.role, o.fact("name")) for o in obs} == {
        (Role.CLIENT, "workstation"),
        (Role.ANNOUNCER, "workstation"),
    }


def test_llmnr_rejects_truncated_message() -> None:
    # header says 1 question, but the name label (length 9) is cut after 2 bytes
    with pytest.raises(DecodeError):
        llmnr.extract(udp_frame(bytes.fromhex("c3410000000100000000000009"), 5355, 5355), CTX)
