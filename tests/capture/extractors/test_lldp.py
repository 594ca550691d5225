"""lldp extractor on corpus captures and an LLDP-MED phone built with scapy (802.1AB, TIA-1057)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.contrib.lldp import (
    LLDPDUChassisID,
    LLDPDUEndOfLLDPDU,
    LLDPDUGenericOrganisationSpecific,
    LLDPDUPortID,
    LLDPDUSystemCapabilities,
    LLDPDUSystemName,
    LLDPDUTimeToLive,
)
from scapy.layers.l2 import Ether

from capture.errors import DecodeError
from capture.extractors import ExtractContext, lldp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import frame_from_bytes, frame_from_packet, read_frames

CTX = ExtractContext()
LLDP_DST = "01:80:c2:00:00:0e"


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.ethertype == 0x88CC
        for obs in lldp.extract(frame, CTX)
    ]


def test_lldp_smc_switch_name_and_description(corpus: Path) -> None:
    (obs,) = _observations(corpus / "zeek/lldp.pcap")
    assert obs.role is Role.ANNOUNCER and obs.protocol == "lldp"
    assert obs.fact("system_name") == "SMCGS8P-Smart"
    assert obs.fact("system_description") == "SMCGS8P-Smart - SMCGS8P-Smart v3.20"
    assert obs.fact("capabilities") == ("bridge",)


def test_lldp_extreme_and_procurve_switches(corpus: Path) -> None:
    by_name = {
        o.fact("system_name"): o for o in _observations(corpus / "arkime/wireshark-lldp.pcap")
    }
    assert (
        by_name["Summit300-48"].fact("system_description")
        == "Summit300-48 - Version 7.4e.1 (Build 5) by Release_Master 05/27/05 04:53:11"
    )
    procurve = by_name["ProCurve Switch 2600-8-PWR"]
    assert (
        procurve.fact("system_description")
        == "ProCurve J8762A Switch 2600-8-PWR, revision H.08.89, ROM H.08.5X (/sw/code/build/fish(ts_08_5))"
    )
    # MANIFEST note: LLDP-MED capable PoE switch
    assert procurve.fact("med_device_class") == "network_connectivity"


def test_lldp_ubuntu_host_mud_url(corpus: Path) -> None:
    obs = _observations(corpus / "tcpdump/lldp_mudurl.pcap")
    assert {o.fact("system_name") for o in obs} == {"upstairs.ofcourseimright.com"}
    assert all(str(o.fact("mud_url")).startswith("https://") for o in obs)


def _med(subtype: int, data: bytes) -> LLDPDUGenericOrganisationSpecific:
    return LLDPDUGenericOrganisationSpecific(org_code=0x0012BB, subtype=subtype, data=data)


def test_lldp_med_inventory_from_ip_phone_built_with_scapy() -> None:
    pkt = (
        Ether(src="00:04:f2:11:22:33", dst=LLDP_DST)
        / LLDPDUChassisID(subtype=5, family=1, id="192.0.2.33")  # network address
        / LLDPDUPortID(subtype=3, id=b"\x00\x04\xf2\x11\x22\x33")
        / LLDPDUTimeToLive(ttl=120)
        / LLDPDUSystemName(system_name=b"SEP0004F2112233")
        / LLDPDUSystemCapabilities(
            telephone_available=1, telephone_enabled=1, mac_bridge_available=1
        )
        / _med(1, b"\x00\x33\x03")  # capabilities, device class III (communication device)
        # network policy: app 1 (voice), then U=0 T=1 X=0, VLAN 100, L2 priority 5, DSCP 46:
        # (1 << 22) | (100 << 9) | (5 << 6) | 46 = 0x40c96e (TIA-1057 §10.2.3)
        / _med(2, bytes.fromhex("0140c96e"))
        / _med(5, b"Rev 2")
        / _med(6, b"3.2.1.0")
        / _med(7, b"VVX 5.9.0")
        / _med(8, b"0004F2112233")
        / _med(9, b"Polycom")
        / _med(10, b"VVX 411")
        / LLDPDUEndOfLLDPDU()
    )
    (obs,) = lldp.extract(frame_from_packet(pkt), CTX)
    assert obs.fact("chassis_id") == "192.0.2.33"
    assert obs.fact("port_id") == "00:04:f2:11:22:33"
    assert "telephone" in obs.fact("capabilities")  # type: ignore[operator]
    assert obs.fact("med_device_class") == "endpoint_class_3"
    assert obs.fact("med_manufacturer") == "Polycom" and obs.fact("med_model") == "VVX 411"
    assert obs.fact("med_firmware") == "3.2.1.0" and obs.fact("med_software") == "VVX 5.9.0"
    assert obs.fact("med_hardware") == "Rev 2" and obs.fact("med_serial") == "0004F2112233"
    assert obs.fact("voice_vlan") == 100


@pytest.mark.parametrize(
    "hex_body",
    [
        # chassis TLV (type 1) claims 7 bytes, 3 present
        "0207" + "04000102",
        # capabilities TLV (type 7) with length 2 instead of 4, after a valid chassis id
        "020704000102030405" + "0e020014",
        # port id TLV only: no chassis id before the end TLV
        "0407030001020304050000",
        # management address TLV whose address-string length (9) exceeds the TLV
        "020704000102030405" + "1003050102",
    ],
)
def test_lldp_rejects_malformed_tlvs(hex_body: str) -> None:
    header = bytes.fromhex("0180c200000e02000000000188cc")
    with pytest.raises(DecodeError):
        lldp.extract(frame_from_bytes(header + bytes.fromhex(hex_body)), CTX)
