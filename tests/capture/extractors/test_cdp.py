"""cdp extractor on corpus captures and the Cisco IP Phone 7960 PDU from scapy's tests."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, cdp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import frame_from_bytes, load_fixtures, read_frames

CTX = ExtractContext()
SNAP = bytes.fromhex("aaaa0300000c2000")


def _frame_bytes(pdu: bytes, src: str = "00:11:22:33:44:55") -> bytes:
    """802.3 frame to the CDP multicast address carrying LLC/SNAP and `pdu`."""
    body = SNAP + pdu
    return (
        bytes.fromhex("01000ccccccc")
        + bytes.fromhex(src.replace(":", ""))
        + struct.pack("!H", len(body))
        + body
    )


def _observations(path: Path) -> list[Observation]:
    return [obs for frame in read_frames(path) if frame.llc for obs in cdp.extract(frame, CTX)]


def test_cdp_v1_cisco_1601_router(corpus: Path) -> None:
    (obs,) = _observations(corpus / "zeek/cdp-v1.pcap")
    # MANIFEST: device id R1, platform 'cisco 1601', IOS 11.2(12)P
    assert obs.role is Role.ANNOUNCER and obs.fact("version") == 1
    assert obs.fact("device_id") == "R1" and obs.fact("platform") == "cisco 1601"
    software = str(obs.fact("software_version"))
    assert software.startswith("Cisco Internetwork Operating System Software")
    assert (
        "IOS (tm) 1600 Software (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1)" in software
    )
    assert "\n" not in software
    assert "router" in obs.fact("capabilities")  # type: ignore[operator]


def test_cdp_v2_catalyst_3560(corpus: Path) -> None:
    obs = _observations(corpus / "tcpdump/3560_CDP.pcap")
    assert obs
    first = obs[0]
    assert first.fact("device_id") == "Switch" and first.fact("platform") == "cisco WS-C3560G-24PS"
    assert "Version 12.2(25)SEB4, RELEASE SOFTWARE (fc1)" in str(first.fact("software_version"))
    assert "switch" in first.fact("capabilities")  # type: ignore[operator]


def test_cdp_ip_phone_7960_from_scapy_test_pdu(corpus: Path) -> None:
    fixtures = load_fixtures(corpus / "scapy/cdp-uts-pdus.json")
    phone = next(f for f in fixtures if "7960" in str(f))
    (obs,) = cdp.extract(frame_from_bytes(_frame_bytes(bytes.fromhex(phone["hex"]))), CTX)
    # MANIFEST: platform 'Cisco IP Phone 7960', software 'P003-08-2-00', device id SIP001122334455,
    # VoIP VLAN query for VLAN 512, power 6300 mW, capabilities 0x10 host
    assert obs.fact("platform") == "Cisco IP Phone 7960"
    assert obs.fact("software_version") == "P003-08-2-00"
    assert obs.fact("device_id") == "SIP001122334455"
    assert obs.fact("voice_vlan") == 512 and obs.fact("voice_vlan_query") is True
    assert obs.fact("power_mw") == 6300
    assert obs.fact("capabilities") == ("host",)


def test_cdp_ignores_other_llc_protocols() -> None:
    # an STP BPDU (LLC 42-42-03) on the same 802.3 path
    frame = bytes.fromhex("0180c20000000011223344550026424203") + bytes(35)
    assert cdp.extract(frame_from_bytes(frame), CTX) == []


@pytest.mark.parametrize(
    "pdu_hex",
    [
        # version 3: not a CDP version
        "03b40000" + "0001000652",
        # device-id TLV claims 0x40 bytes, 2 present
        "02b40000" + "000100405231",
        # TLV length 2: shorter than its own 4-byte header
        "02b40000" + "00010002",
        # only a platform TLV: no device id
        "02b40000" + "0006000878787878",
    ],
)
def test_cdp_rejects_malformed_pdus(pdu_hex: str) -> None:
    with pytest.raises(DecodeError):
        cdp.extract(frame_from_bytes(_frame_bytes(bytes.fromhex(pdu_hex))), CTX)
