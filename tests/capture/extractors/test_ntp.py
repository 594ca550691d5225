"""ntp extractor on IoT set-up captures and built packets (RFC 5905)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.ntp import NTPHeader

from capture.errors import DecodeError
from capture.extractors import ExtractContext, ntp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.is_udp and 123 in (frame.src_port, frame.dst_port)
        for obs in ntp.extract(frame, CTX)
    ]


def test_ntp_hue_bridge_is_an_ntpv4_client(corpus: Path) -> None:
    hue = [
        o
        for o in _observations(corpus / "IoT_Sentinel/HueSwitch__Setup-A-5-STA.pcap")
        if o.mac == "00:17:88:24:76:ff"
    ]
    assert hue and all(
        o.role is Role.CLIENT and o.fact("mode") == "client" and o.fact("version") == 4 for o in hue
    )
    assert all(o.fact("server") for o in hue)


def test_ntp_server_reply_reference_id(corpus: Path) -> None:
    servers = [o for o in _observations(corpus / "nDPI/android.pcap") if o.role is Role.SERVER]
    # time.google.com answers at stratum 1 with reference id "GOOG"
    assert [(o.fact("stratum"), o.fact("reference_id")) for o in servers] == [(1, "GOOG")]


def test_ntp_mode_7_request_is_kept() -> None:
    # ntpdc monlist request: version 2, mode 7, implementation 3, request code 42 (MON_GETLIST_1)
    (obs,) = ntp.extract(udp_frame(bytes.fromhex("17000303") + bytes(4), 50000, 123), CTX)
    assert (
        obs.fact("mode") == "private" and obs.fact("response") is False and obs.role is Role.CLIENT
    )


def test_ntp_client_built_with_scapy() -> None:
    (obs,) = ntp.extract(
        udp_frame(bytes(NTPHeader(version=4, mode=3)), 123, 123, dst="192.0.2.123"), CTX
    )
    assert obs.fact("server") == "192.0.2.123" and obs.fact("version") == 4


@pytest.mark.parametrize(
    "hex_data",
    [
        "",  # empty datagram
        "07" + "00" * 47,  # version field 0 (mode 7)
        "e3" + "00" * 10,  # version 4 client header cut at 11 bytes (needs 48)
        "20" + "00" * 47,  # version 4, mode 0 (reserved)
    ],
)
def test_ntp_rejects_malformed_headers(hex_data: str) -> None:
    with pytest.raises(DecodeError):
        ntp.extract(udp_frame(bytes.fromhex(hex_data), 50000, 123), CTX)
