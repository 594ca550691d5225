"""Robustness: the discovery extractors raise nothing but DecodeError on arbitrary payloads.

Two strategies per module: arbitrary bytes, and a valid message of that protocol with
random byte edits, truncation and junk appended (reaches the deep parsing paths that
random bytes rarely get past the first header check to).
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING
from scapy.contrib.lldp import (
    LLDPDUChassisID,
    LLDPDUEndOfLLDPDU,
    LLDPDUPortID,
    LLDPDUSystemName,
    LLDPDUTimeToLive,
)
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import (
    DUID_LLT,
    DHCP6_Solicit,
    DHCP6OptClientFQDN,
    DHCP6OptClientId,
    DHCP6OptVendorClass,
)
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRSRV
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr
from scapy.layers.l2 import ARP, Ether
from scapy.layers.netbios import NBNSHeader, NBNSRegistrationRequest
from scapy.layers.ntp import NTPHeader
from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

from capture.errors import DecodeError
from capture.extractors import (
    ExtractContext,
    arp,
    cdp,
    crestron,
    dhcp,
    dhcpv6,
    dhip,
    dns,
    icmpv6_nd,
    lldp,
    llmnr,
    mdns,
    nbns,
    ntp,
    sadp,
    slp,
    snmp,
    ssdp,
    tivo,
    ubnt,
    wsd,
)
from capture.frame import ETH_P_ARP, ETH_P_LLDP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, Frame
from capture.observation import Observation

_DNS = bytes(
    DNS(
        qr=1,
        qd=[DNSQR(qname="_ipp._tcp.local", qtype="PTR")],
        an=[
            DNSRR(rrname="_ipp._tcp.local", type="PTR", rdata="P._ipp._tcp.local"),
            DNSRRSRV(rrname="P._ipp._tcp.local", port=631, target="p.local"),
            DNSRR(rrname="P._ipp._tcp.local", type="TXT", rdata=[b"ty=X", b"flag"]),
            DNSRR(rrname="p.local", type="A", rdata="192.0.2.1"),
        ],
    )
)
_LLDP = bytes(
    Ether(dst="01:80:c2:00:00:0e")
    / LLDPDUChassisID(subtype=4, id="02:00:00:00:00:01")
    / LLDPDUPortID(subtype=5, id=b"1")
    / LLDPDUTimeToLive(ttl=120)
    / LLDPDUSystemName(system_name=b"sw")
    / LLDPDUEndOfLLDPDU()
)[14:] + bytes.fromhex("fe0900120b0a564858203431310000")  # MED model TLV after the end
_CDP = bytes.fromhex(
    "aaaa0300000c2000" + "02b40000" + "000100065231" + "0006000878787878" + "0002001100000001"
    "0101cc0004c0a80001" + "000f0007200200"
)

SEEDS: dict[str, bytes] = {
    "arp": bytes(ARP(op=2)),
    "dhcp": bytes(
        BOOTP(op=1)
        / DHCP(
            options=[
                ("message-type", "request"),
                ("hostname", b"tv"),
                ("param_req_list", [1, 3, 6]),
                (81, b"\x04\x00\x00\x02tv\x00"),
                (77, b"\x02ab"),
                "end",
            ]
        )
    ),
    "dhcpv6": bytes(
        DHCP6_Solicit()
        / DHCP6OptClientId(duid=DUID_LLT(lladdr="02:00:00:00:00:01"))
        / DHCP6OptVendorClass()
        / DHCP6OptClientFQDN(fqdn=b"\x02tv\x00")
    ),
    "mdns": _DNS,
    "dns": bytes(DNS(qd=[DNSQR(qname="a.example")])),
    "llmnr": _DNS,
    "nbns": bytes(
        NBNSHeader(OPCODE=5, QDCOUNT=1, ARCOUNT=1) / NBNSRegistrationRequest(QUESTION_NAME=b"PC")
    ),
    "ssdp": b"NOTIFY * HTTP/1.1\r\nSERVER: Linux UPnP/1.0\r\nLOCATION: http://192.0.2.1/d.xml\r\nNT: upnp:rootdevice\r\n\r\n",
    "wsd": b'<e:Envelope xmlns:e="s" xmlns:a="a" xmlns:d="d"><e:Header><a:Action>x/Hello</a:Action></e:Header><e:Body><d:Hello><a:Address>urn:uuid:1</a:Address><d:Types>a:B</d:Types></d:Hello></e:Body></e:Envelope>',
    "lldp": _LLDP,
    "cdp": _CDP,
    "snmp": bytes(
        SNMP(
            community=b"public",
            PDU=SNMPresponse(
                varbindlist=[
                    SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.1.0"), value=ASN1_STRING(b"d"))
                ]
            ),
        )
    ),
    "ntp": bytes(NTPHeader(mode=4, stratum=2)),
    "icmpv6_nd": bytes(
        ICMPv6ND_RA()
        / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
        / ICMPv6NDOptPrefixInfo(prefix="2001:db8::")
    ),
    "slp": bytes.fromhex(
        "0203000033000000000012340002656e00003c0005733a2f2f780000016100016200037828613d6229" + "00"
    ),
}
_DHIP_JSON = (
    b'{"mac":"4c:11:bf:c2:0b:9d","method":"client.notifyDevInfo","params":{"deviceInfo":'
    b'{"DeviceClass":"IPC","DeviceType":"IPC-HDW5421S","Version":"2.400.0.8","Vendor":"Dahua"}}}'
)
SEEDS.update(
    {
        "tivo": b"tivoconnect=1\nswversion=11.0k-01-2-652\nmethod=broadcast\nidentity=652\n"
        b"machine=Living Room\nplatform=tcd/Series3\nservices=TiVoMediaServer:80/http\n",
        "sadp": b'<?xml version="1.0"?><ProbeMatch><Uuid>X</Uuid><DeviceType>1</DeviceType>'
        b"<DeviceDescription>DS-2CD2320D-I</DeviceDescription><MAC>44-47-cc-37-ce-81</MAC>"
        b"<SoftwareVersion>V5.4.5build 260429</SoftwareVersion><Activated>true</Activated>"
        b"</ProbeMatch>",
        "ubnt": bytes.fromhex("01000023") + bytes.fromhex("010006f09fc2112233")
        + bytes.fromhex("0c0005") + b"U7PG2" + bytes.fromhex("0b0009") + b"ap-lobby1"
        + bytes.fromhex("160003") + b"6.5",  # version 1, 35 bytes of TLVs
        "dhip": b"\x20\0\0\0DHIP" + bytes(8) + len(_DHIP_JSON).to_bytes(4, "little")
        + bytes(4) + len(_DHIP_JSON).to_bytes(4, "little") + bytes(4) + _DHIP_JSON,
        "crestron": bytes(10) + b"CP3".ljust(256, b"\0")
        + b"CP3 Cntrl Eng [v1.601.3934.19631 (Oct 10 2019), #00A3BBE7] @E-00107f4a3474\0",
    }
)  # fmt: skip
MODULES: tuple[ModuleType, ...] = (
    arp,
    cdp,
    crestron,
    dhcp,
    dhcpv6,
    dhip,
    dns,
    icmpv6_nd,
    llmnr,
    lldp,
    mdns,
    nbns,
    ntp,
    sadp,
    slp,
    snmp,
    ssdp,
    tivo,
    ubnt,
    wsd,
)
CTX = ExtractContext(text_max_bytes=64)


def _frame(module: ModuleType, payload: bytes, tcp: bool) -> Frame:
    frame = Frame(at=1.0, data=payload, src_mac="02:00:00:00:00:0a", dst_mac="02:00:00:00:00:01")
    if module is arp or module is lldp:
        frame.ethertype = ETH_P_ARP if module is arp else ETH_P_LLDP
    elif module is cdp:
        frame.llc = True
        frame.ethertype = len(payload)
    elif module is icmpv6_nd:
        frame.ip_version, frame.ip_proto, frame.src_ip, frame.dst_ip = (
            6,
            IPPROTO_ICMPV6,
            "fe80::1",
            "ff02::1",
        )
        frame.icmp_type = payload[0] if payload else None
    else:
        ports = sorted(module.TCP_PORTS if tcp and module.TCP_PORTS else module.UDP_PORTS)
        frame.ip_version, frame.src_ip, frame.dst_ip = 4, "192.0.2.10", "192.0.2.1"
        frame.ip_proto = IPPROTO_TCP if tcp and module.TCP_PORTS else IPPROTO_UDP
        frame.src_port = frame.dst_port = ports[0]
    return frame


def _check(module: ModuleType, payload: bytes, tcp: bool) -> None:
    try:
        result = module.extract(_frame(module, payload, tcp), CTX)
    except DecodeError as exc:
        assert exc.reason and " " not in exc.reason  # a stable token
        return
    assert isinstance(result, list) and all(isinstance(o, Observation) for o in result)
    for obs in result:
        for value in obs.facts.values():
            if isinstance(value, str):
                assert len(value.encode()) <= CTX.text_max_bytes or value.startswith(
                    ("urn:", "http")
                )
                assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=24))


def _payloads(module: ModuleType) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=400), _mutated(SEEDS[module.NAME]))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_discovery_extractors_raise_only_decode_error(
    module: ModuleType, data: st.DataObject
) -> None:
    _check(module, data.draw(_payloads(module)), tcp=data.draw(st.booleans()))


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
@settings(
    max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_discovery_extractors_raise_only_decode_error_long(
    module: ModuleType, data: st.DataObject
) -> None:
    _check(module, data.draw(_payloads(module)), tcp=data.draw(st.booleans()))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_discovery_seed_messages_are_valid(module: ModuleType) -> None:
    """The seeds parse cleanly, so the mutation strategy starts from deep inside each parser."""
    assert module.extract(_frame(module, SEEDS[module.NAME], tcp=False), CTX)
