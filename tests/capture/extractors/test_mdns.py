"""mdns extractor on corpus captures, python-zeroconf device packets and built packets."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSRR, DNSRRSRV

from capture.errors import DecodeError
from capture.extractors import ExtractContext, mdns
from capture.observation import Observation, Role
from tests.capture.extractors.framing import load_fixtures, read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    out: list[Observation] = []
    for frame in read_frames(path):
        if frame.is_udp and 5353 in (frame.src_port, frame.dst_port):
            out.extend(mdns.extract(frame, CTX))
    return out


def _fixture(corpus: Path, ident: str) -> bytes:
    fixtures = load_fixtures(corpus / "python-zeroconf/test_protocol-device-mdns-packets.json")
    return bytes.fromhex(next(f["hex"] for f in fixtures if f["id"] == ident))


def test_mdns_extracts_hue_bridge_model_from_hap_txt(corpus: Path) -> None:
    # MANIFEST: 00:17:88:24:76:ff md=BSB002, id=00:17:88:24:76:FF, _hap._tcp
    hue = [
        o
        for o in _observations(corpus / "IoT_Sentinel/HueSwitch__Setup-A-5-STA.pcap")
        if o.mac == "00:17:88:24:76:ff"
    ]
    assert hue and all(o.role is Role.ANNOUNCER for o in hue)
    assert any(
        o.fact("txt.md") == "BSB002" and o.fact("txt.id") == "00:17:88:24:76:FF" for o in hue
    )
    assert any("_hap._tcp" in (o.fact("services") or ()) for o in hue)  # type: ignore[operator]


def test_mdns_extracts_dlink_model_number_and_instances(corpus: Path) -> None:
    obs = _observations(corpus / "IoT_Sentinel/D-LinkSiren__Setup-C-10-STA.pcap")
    siren = [o for o in obs if o.mac == "90:8d:78:dd:0d:60" and o.role is Role.ANNOUNCER]
    assert any(
        o.fact("txt.model_number") == "DCH-S220"
        and o.fact("txt.hardware_ver") == "A2"
        and o.fact("txt.version") == "0124"
        for o in siren
    )
    instances = {i for o in siren for i in o.fact("instances") or ()}  # type: ignore[union-attr]
    assert {
        "D-Link HNAP Service._dhnap._tcp.local",
        "D-Link DCH-S220 Configuration Utility._http._tcp.local",
    } <= instances


def test_mdns_keeps_free_text_txt_entry_of_edimax_camera(corpus: Path) -> None:
    obs = _observations(corpus / "IoT_Sentinel/EdimaxCam1__Setup-C-2-STA.pcap")
    cam = [o for o in obs if o.mac == "74:da:38:80:7a:08" and o.role is Role.ANNOUNCER]
    assert any(o.fact("txt_flags") == ("IC-3115W Network Camera",) for o in cam)
    assert any("_http._tcp" in (o.fact("services") or ()) for o in cam)  # type: ignore[operator]


def test_mdns_reports_queried_service_types_as_client(corpus: Path) -> None:
    obs = _observations(corpus / "zeek/dns__mdns.pcap")
    queries = {q for o in obs if o.role is Role.CLIENT for q in o.fact("queries") or ()}  # type: ignore[union-attr]
    assert {"_ipp._tcp.local", "_ipps._tcp.local"} <= queries


@pytest.mark.parametrize(
    ("ident", "key", "value", "service"),
    [
        # eufy HomeBase2: md=T8010 (the packet also has an invalid compression pointer)
        ("test_dns_compression_invalid_skips_record", "txt.md", "T8010", "_hap._tcp"),
        # Android TV: bt=D8:13:99:AC:98:F1 (an NSEC record points forward)
        (
            "test_dns_compression_points_forward",
            "txt.bt",
            "D8:13:99:AC:98:F1",
            "_androidtvremote._tcp",
        ),
        ("test_txt_after_invalid_nsec_name_still_usable", "txt.protovers", "1.24.1", "_sonos._tcp"),
    ],
)
def test_mdns_extracts_device_txt_from_zeroconf_packets(
    corpus: Path, ident: str, key: str, value: str, service: str
) -> None:
    (obs,) = mdns.extract(udp_frame(_fixture(corpus, ident), 5353, 5353), CTX)
    assert obs.role is Role.ANNOUNCER
    assert obs.fact(key) == value
    assert service in obs.fact("services")  # type: ignore[operator]


def test_mdns_answer_with_only_nsec_gives_no_observation(corpus: Path) -> None:
    assert (
        mdns.extract(
            udp_frame(_fixture(corpus, "test_dns_compression_all_invalid"), 5353, 5353), CTX
        )
        == []
    )


def test_mdns_printer_announcement_built_with_scapy() -> None:
    msg = DNS(
        qr=1,
        aa=1,
        qd=[],
        an=[
            DNSRR(rrname="_ipp._tcp.local", type="PTR", rdata="HP LaserJet._ipp._tcp.local"),
            DNSRRSRV(rrname="HP LaserJet._ipp._tcp.local", port=631, target="NPI1.local"),
            DNSRR(
                rrname="HP LaserJet._ipp._tcp.local",
                type="TXT",
                rdata=[
                    b"ty=HP LaserJet M404",
                    b"usb_MDL=LaserJet M404",
                    b"Color=F",
                    b"\x01bad=x\x07y",
                ],
            ),
            DNSRR(rrname="NPI1.local", type="A", rdata="192.0.2.40"),
        ],
    )
    (obs,) = mdns.extract(
        udp_frame(bytes(msg), 5353, 5353, src="192.0.2.40", src_mac="3C:52:82:00:00:01"), CTX
    )
    assert obs.mac == "3c:52:82:00:00:01" and obs.ip == "192.0.2.40" and obs.protocol == "mdns"
    assert obs.fact("services") == ("_ipp._tcp",)
    assert obs.fact("instances") == ("HP LaserJet._ipp._tcp.local",)
    assert obs.fact("hostnames") == ("NPI1.local",)
    assert obs.fact("txt.ty") == "HP LaserJet M404"
    assert obs.fact("txt.usb_MDL") == "LaserJet M404"
    assert obs.fact("txt.bad") == "x y"  # control characters removed from key and value


def test_mdns_caps_txt_values() -> None:
    msg = DNS(
        qr=1,
        qd=[],
        an=[DNSRR(rrname="x._http._tcp.local", type="TXT", rdata=[b"model=" + b"A" * 200])],
    )
    (obs,) = mdns.extract(udp_frame(bytes(msg), 5353, 5353), ExtractContext(text_max_bytes=16))
    assert obs.fact("txt.model") == "A" * 16


def test_mdns_rejects_truncated_header() -> None:
    # 5 bytes: not even a DNS header
    with pytest.raises(DecodeError):
        mdns.extract(udp_frame(bytes.fromhex("0000840000"), 5353, 5353), CTX)
