"""nbns extractor on arkime/nbns.pcap and built packets (RFC 1002)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.netbios import NBNSHeader, NBNSQueryRequest, NBNSRegistrationRequest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, nbns
from capture.observation import Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def test_nbns_extracts_registered_names_from_arkime_capture(corpus: Path) -> None:
    names = set()
    for frame in read_frames(corpus / "arkime/nbns.pcap"):
        if frame.is_udp and 137 in (frame.src_port, frame.dst_port):
            for obs in nbns.extract(frame, CTX):
                assert obs.role is Role.ANNOUNCER and obs.mac == "00:50:56:33:78:9e"
                names.add((obs.fact("name"), obs.fact("suffix"), obs.fact("group")))
    # MANIFEST: WORKGROUP<1d>, MARTIN ROSENAU<03>, MDJR98<03>; tshark: WORKGROUP<00> is a group
    assert {
        ("WORKGROUP", 0x1D, False),
        ("MARTIN ROSENAU", 0x03, False),
        ("MDJR98", 0x03, False),
    } <= names
    assert ("WORKGROUP", 0x00, True) in names


def test_nbns_registration_built_with_scapy() -> None:
    pkt = NBNSHeader(OPCODE=5, NM_FLAGS=0x11, QDCOUNT=1, ARCOUNT=1) / NBNSRegistrationRequest(
        QUESTION_NAME=b"PRINTER01",
        SUFFIX=0x4141,  # "AA" encodes suffix 0x00 (workstation)
        NB_ADDRESS="192.0.2.33",
        G=0,
    )
    (obs,) = nbns.extract(udp_frame(bytes(pkt), 137, 137, src="192.0.2.33"), CTX)
    assert obs.fact("name") == "PRINTER01"
    assert obs.fact("suffix") == 0x00 and obs.fact("group") is False
    assert obs.ip == "192.0.2.33"


def test_nbns_name_query_is_client_lookup() -> None:
    pkt = NBNSHeader(OPCODE=0, NM_FLAGS=0x11, QDCOUNT=1) / NBNSQueryRequest(
        QUESTION_NAME=b"FILESRV"
    )
    (obs,) = nbns.extract(udp_frame(bytes(pkt), 137, 137), CTX)
    assert obs.role is Role.CLIENT and obs.fact("name") == "FILESRV" and obs.fact("query") is True


def test_nbns_decodes_first_level_encoding() -> None:
    # RFC 1001 §14.1 example: "FRED" padded with spaces -> EGFCEFEECACACACACACACACACACACACA
    raw, suffix = nbns.decode_netbios_name(("EGFCEFEECACACACACACACACACACACACA",))
    assert raw == b"FRED" and suffix == 0x20


@pytest.mark.parametrize(
    "hex_data",
    [
        # name query whose first label has 4 letters instead of 32
        "000100100001000000000000" + "04" + "41424344" + "00" + "00200001",
        # 32-letter label with characters outside 'A'..'P' ("Z")
        "000100100001000000000000" + "20" + "5a" * 32 + "00" + "00200001",
    ],
)
def test_nbns_rejects_badly_encoded_names(hex_data: str) -> None:
    with pytest.raises(DecodeError):
        nbns.extract(udp_frame(bytes.fromhex(hex_data), 137, 137), CTX)
