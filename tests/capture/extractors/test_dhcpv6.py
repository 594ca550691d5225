"""dhcpv6 extractor on tcpdump/suricata/nDPI captures and malformed messages (RFC 8415)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dhcp6 import (
    DUID_EN,
    VENDOR_CLASS_DATA,
    VENDOR_SPECIFIC_OPTION,
    DHCP6_Solicit,
    DHCP6OptClientFQDN,
    DHCP6OptClientId,
    DHCP6OptVendorClass,
    DHCP6OptVendorSpecificInfo,
)

from capture.errors import DecodeError
from capture.extractors import ExtractContext, dhcpv6
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.is_udp and {546, 547} & {frame.src_port, frame.dst_port}
        for obs in dhcpv6.extract(frame, CTX)
    ]


def test_dhcpv6_windows_client_vendor_class_and_fqdn(corpus: Path) -> None:
    obs = _observations(corpus / "suricata-verify/output-eve-ftp-data__input.pcap")
    # MANIFEST: the same host's DHCPv4 says hostname 'jaekuryu-HP', opt60 'MSFT 5.0'
    assert {o.fact("fqdn") for o in obs} == {"jaekuryu-HP"}
    assert {o.fact("vendor_class") for o in obs} == {"MSFT 5.0"}
    assert {o.fact("enterprise") for o in obs} == {311}  # IANA PEN 311 = Microsoft
    assert all(o.role is Role.CLIENT and o.fact("duid_type") == "llt" for o in obs)


def test_dhcpv6_duid_llt_embeds_client_mac(corpus: Path) -> None:
    obs = _observations(corpus / "nDPI/android.pcap")
    # DUID-LLT 0001 0001 25e5148e 4c6af69ff627: hardware type 1, then the MAC
    assert {o.fact("duid_mac") for o in obs} == {"4c:6a:f6:9f:f6:27"}
    assert {o.fact("param_list") for o in obs} == {(23, 24)}  # DNS servers, domain list


def test_dhcpv6_server_messages_and_duid_ll(corpus: Path) -> None:
    obs = _observations(corpus / "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap")
    servers = [o for o in obs if o.role is Role.SERVER]
    assert {o.fact("msg_type") for o in servers} == {"advertise", "reply"}
    info = next(o for o in obs if o.fact("msg_type") == "information-request")
    assert info.fact("duid_type") == "ll" and info.fact("duid_mac") == "00:00:44:01:00:00"


def test_dhcpv6_enterprise_duid_built_with_scapy() -> None:
    pkt = (
        DHCP6_Solicit(trid=1)
        / DHCP6OptClientId(duid=DUID_EN(enterprisenum=4526, id=b"\x01\x02"))
        / DHCP6OptVendorClass(enterprisenum=4526, vcdata=[VENDOR_CLASS_DATA(data=b"NETGEAR R7000")])
        / DHCP6OptClientFQDN(fqdn=b"\x06router\x03lan\x00")
    )
    (obs,) = dhcpv6.extract(udp_frame(bytes(pkt), 546, 547, src="fe80::1", dst="ff02::1:2"), CTX)
    assert obs.fact("duid_type") == "en" and obs.fact("enterprise") == 4526
    assert obs.fact("vendor_class") == "NETGEAR R7000" and obs.fact("fqdn") == "router.lan"


def test_dhcpv6_vendor_specific_option_names_the_enterprise(corpus: Path) -> None:
    obs = _observations(corpus / "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap")
    # tshark: option 17, Enterprise ID 30065 (Arista Networks), sub-option 1 data "Arista"
    arista = [o for o in obs if o.fact("vendor_opts_enterprise") == 30065]
    assert arista and all(o.role is Role.CLIENT for o in arista)
    assert {o.fact("vendor_opts") for o in arista} >= {"1=Arista"}
    assert all(o.fact("enterprise") == 30065 for o in arista if o.fact("vendor_class") is None)


def test_dhcpv6_vendor_class_keeps_its_enterprise_over_vendor_opts() -> None:
    pkt = (
        DHCP6_Solicit(trid=1)
        / DHCP6OptVendorClass(enterprisenum=311, vcdata=[VENDOR_CLASS_DATA(data=b"MSFT 5.0")])
        / DHCP6OptVendorSpecificInfo(
            enterprisenum=30065, vso=[VENDOR_SPECIFIC_OPTION(optcode=1, optdata=b"Arista")]
        )
    )
    (obs,) = dhcpv6.extract(udp_frame(bytes(pkt), 546, 547, src="fe80::1", dst="ff02::1:2"), CTX)
    assert obs.fact("enterprise") == 311 and obs.fact("vendor_opts_enterprise") == 30065
    assert obs.fact("vendor_opts") == "1=Arista"


@pytest.mark.parametrize(
    "hex_data",
    [
        "01ab",  # 2 bytes: shorter than type + transaction id
        "ff000001",  # message type 255
        "010000010001000e000100",  # client-id option claims 14 bytes, 3 present
        "0100000100010001" + "00",  # client-id DUID of 1 byte (needs a 2-byte type)
        "01000001001000020000",  # vendor class of 2 bytes (needs a 4-byte enterprise number)
        "0100000100110003000075",  # vendor opts of 3 bytes (needs a 4-byte enterprise number)
        "01000001001100090000757100010009aa",  # vendor sub-option claims 9 bytes, 1 present
    ],
)
def test_dhcpv6_rejects_malformed_messages(hex_data: str) -> None:
    with pytest.raises(DecodeError):
        dhcpv6.extract(
            udp_frame(bytes.fromhex(hex_data), 546, 547, src="fe80::1", dst="ff02::1:2"), CTX
        )


def test_dhcpv6_long_duid_is_capped_at_the_text_bound() -> None:
    # Found by the robustness property test: a Solicit whose client-id option carries a
    # 40-octet DUID (type 0, all zero); its 80 hex digits exceeded a 64-byte text bound.
    payload = bytes.fromhex("01000000" + "00010028" + "00" * 40)
    frame = udp_frame(payload, 546, 547, src="fe80::1", dst="ff02::1:2")
    [obs] = dhcpv6.extract(frame, ExtractContext(text_max_bytes=64))
    assert obs.facts["duid"] == "0" * 64
