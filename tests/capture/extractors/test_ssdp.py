"""ssdp extractor on corpus captures and built messages (UPnP Device Architecture §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, ssdp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.is_udp and 1900 in (frame.src_port, frame.dst_port)
        for obs in ssdp.extract(frame, CTX)
    ]


@pytest.mark.parametrize(
    ("name", "server"),
    [
        ("zeek/raw_packets.pcap", "ipos/7.0 UPnP/1.0 TL-WDR3600/1.0"),
        (
            "suricata-verify/sip-ssdp-pm__ssdp.pcap",
            "UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6",
        ),
        ("IoT_Sentinel/HueSwitch__Setup-A-5-STA.pcap", "Linux/3.14.0 UPnP/1.0 IpBridge/1.9.0"),
    ],
)
def test_ssdp_notify_server_header_matches_manifest(corpus: Path, name: str, server: str) -> None:
    notifies = [o for o in _observations(corpus / name) if o.fact("method") == "NOTIFY"]
    assert notifies and all(o.role is Role.ANNOUNCER for o in notifies)
    assert server in {o.fact("server") for o in notifies}


def test_ssdp_camera_location_matches_manifest(corpus: Path) -> None:
    obs = _observations(corpus / "IoT_Sentinel/D-LinkDayCam__Setup-C-13-STA.pcap")
    cam = [o for o in obs if o.mac == "b0:c5:54:1c:71:85" and o.fact("method") == "NOTIFY"]
    assert {o.fact("location") for o in cam} == {"http://10.10.10.58:8839/rootdesc.xml"}
    assert {o.fact("server") for o in cam} == {"Cellvision UPnP/1.0"}


def test_ssdp_msearch_user_agent(corpus: Path) -> None:
    (obs,) = _observations(corpus / "nDPI/ssdp-m-search-ua.pcap")[:1]
    assert obs.role is Role.CLIENT and obs.fact("method") == "M-SEARCH"
    assert obs.fact("user_agent") == "Google Chrome/99.0.4844.74 Mac OS X"


def test_ssdp_search_response_is_announcement_with_st() -> None:
    msg = (
        b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nST: urn:dial-multiscreen-org:service:dial:1\r\n"
        b"USN: uuid:abc::urn:dial-multiscreen-org:service:dial:1\r\nLOCATION: http://192.0.2.50:8008/ssdp/device-desc.xml\r\n"
        b"SERVER: Linux/3.8.13+, UPnP/1.0, Portable SDK for UPnP devices/1.6.18\r\n\r\n"
    )
    (obs,) = ssdp.extract(udp_frame(msg, 1900, 50000, src="192.0.2.50"), CTX)
    assert obs.role is Role.ANNOUNCER and obs.fact("method") == "RESPONSE"
    assert obs.fact("st") == "urn:dial-multiscreen-org:service:dial:1"
    assert obs.fact("location") == "http://192.0.2.50:8008/ssdp/device-desc.xml"


def test_ssdp_strips_control_characters_and_caps_headers() -> None:
    msg = b"NOTIFY * HTTP/1.1\r\nSERVER: evil\x1b[31m" + b"X" * 1000 + b"\r\n\r\n"
    (obs,) = ssdp.extract(udp_frame(msg, 1900, 1900), ExtractContext(text_max_bytes=32))
    server = obs.fact("server")
    assert isinstance(server, str) and "\x1b" not in server and len(server.encode()) <= 32


def test_ssdp_rejects_unknown_start_line() -> None:
    # binary junk on port 1900: no SSDP method or status line
    with pytest.raises(DecodeError):
        ssdp.extract(udp_frame(bytes.fromhex("deadbeef0d0a0d0a"), 1900, 1900), CTX)
