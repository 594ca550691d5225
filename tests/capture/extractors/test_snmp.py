"""snmp extractor on the zeek/suricata/nDPI SNMP captures and malformed BER."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING
from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

from capture.errors import DecodeError
from capture.extractors import ExtractContext, snmp
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext(salt=b"test-salt")


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.is_udp and {161, 162} & {frame.src_port, frame.dst_port}
        for obs in snmp.extract(frame, CTX)
    ]


def test_snmp_v1_printer_sysname_and_default_community(corpus: Path) -> None:
    obs = _observations(corpus / "zeek/snmp__snmpv1_get.pcap")
    # MANIFEST: version=v1 community='public', sysName B6300 from the Xerox printer 172.31.19.73
    assert {o.fact("version") for o in obs} == {"1"}
    assert all(o.fact("community_default") is True for o in obs)
    assert all(o.fact("community_hash") == CTX.hash_secret(b"public") for o in obs)
    responses = [o for o in obs if o.role is Role.SERVER]
    assert {o.ip for o in responses} == {"172.31.19.73"}
    assert "B6300" in {o.fact("sys_name") for o in responses}


def test_snmp_never_keeps_the_community_in_clear(corpus: Path) -> None:
    for obs in _observations(corpus / "suricata-verify/snmp-v2c-get__SNMPv2c_get_requests.pcap"):
        assert obs.fact("version") == "2c" and obs.fact("community_default") is False
        # MANIFEST: community '[R0_C@cti!]'
        assert obs.fact("community_hash") == CTX.hash_secret(b"[R0_C@cti!]")
        assert all("R0_C" not in str(v) for v in obs.facts.values())


def test_snmp_walk_response_gives_sysdescr_and_sysname(corpus: Path) -> None:
    responses = [
        o for o in _observations(corpus / "zeek/snmp__snmpwalk-short.pcap") if o.role is Role.SERVER
    ]
    assert (
        "Linux ubuntu-512mb-sfo2-01 4.4.0-31-generic #50~14.04.1-Ubuntu SMP Wed Jul 13 01:07:32 UTC 2016 x86_64"
        in {o.fact("sys_descr") for o in responses}
    )
    assert "ubuntu-512mb-sfo2-01" in {o.fact("sys_name") for o in responses}
    # net-snmp's sysObjectID is under its enterprise 8072 (IANA PEN)
    assert any(str(o.fact("sys_object_id")).startswith("1.3.6.1.4.1.8072.") for o in responses)


def test_snmp_v2c_empty_community_is_not_default(corpus: Path) -> None:
    obs = _observations(corpus / "zeek/snmp__snmpv2_get_bulk.pcap")
    assert [o.fact("pdu") for o in obs] == ["getbulk", "response"]
    assert all(o.fact("community_default") is False and o.fact("version") == "2c" for o in obs)


def test_snmp_v1_trap_is_sent_by_agent(corpus: Path) -> None:
    (obs,) = _observations(corpus / "zeek/snmp__snmpv1_trap.pcap")
    assert obs.fact("pdu") == "trap" and obs.role is Role.SERVER and obs.fact("version") == "1"


def test_snmp_v3_report_and_engine_enterprise(corpus: Path) -> None:
    obs = _observations(corpus / "zeek/snmp__snmpv3_get_next.pcap")
    assert {o.fact("version") for o in obs} == {"3"}
    assert all(o.fact("community_hash") is None for o in obs)
    report = next(o for o in obs if o.fact("pdu") == "report")
    assert report.role is Role.SERVER
    # engine ID 80001f88...: enterprise 0x1f88 = 8072 (net-snmp) per RFC 3411 §5
    assert report.fact("engine_enterprise") == 8072
    assert report.fact("engine_oid") == "1.3.6.1.4.1.8072"


def test_snmp_v3_encrypted_agent_names_its_enterprise(corpus: Path) -> None:
    """The agent's report carries engine ID 000039e7 000000a1 c0a81da0 (tshark
    snmp.msgAuthoritativeEngineID): enterprise 0x39e7 = 14823, IANA's number for Aruba."""
    obs = _observations(corpus / "suricata-verify/snmp-v3-encrypted__SNMPv3.pcap")
    agent = [o for o in obs if o.role is Role.SERVER and o.fact("engine_id")]
    assert agent and {o.fact("engine_id") for o in agent} == {"000039e7000000a1c0a81da0"}
    assert {o.fact("engine_oid") for o in agent} == {"1.3.6.1.4.1.14823"}


def test_snmp_v3_encrypted_pdu_is_recognised(corpus: Path) -> None:
    obs = _observations(corpus / "suricata-verify/snmp-v3-encrypted__SNMPv3.pcap")
    assert {o.fact("version") for o in obs} == {"3"}
    assert any(o.fact("encrypted") is True and o.fact("pdu") is None for o in obs)


def test_snmp_response_built_with_scapy() -> None:
    pkt = SNMP(
        version=1,
        community=b"private",
        PDU=SNMPresponse(
            varbindlist=[
                SNMPvarbind(
                    oid=ASN1_OID("1.3.6.1.2.1.1.1.0"),
                    value=ASN1_STRING(b"HP ETHERNET MULTI-ENVIRONMENT\r\n"),
                ),
                SNMPvarbind(
                    oid=ASN1_OID("1.3.6.1.2.1.1.2.0"), value=ASN1_OID("1.3.6.1.4.1.11.2.3.9.1")
                ),
            ]
        ),
    )
    (obs,) = snmp.extract(udp_frame(bytes(pkt), 161, 50000), CTX)
    assert obs.role is Role.SERVER and obs.fact("version") == "2c" and obs.fact("pdu") == "response"
    assert obs.fact("community_default") is True
    assert obs.fact("sys_descr") == "HP ETHERNET MULTI-ENVIRONMENT"
    assert obs.fact("sys_object_id") == "1.3.6.1.4.1.11.2.3.9.1"


@pytest.mark.parametrize(
    "hex_data",
    [
        # outer SEQUENCE claims 0x30 bytes, 5 present
        "3030020100",
        # version 2 (not 0, 1 or 3)
        "300b020102040170a004020100",
        # long-form length with 5 length bytes
        "3085000000000b",
        # PDU tag 0xaf: not an SNMP PDU
        "300b0201010401706f0400000000",
        # indefinite length (0x80) on the outer SEQUENCE
        "308002010100",
        # OID with a dangling continuation bit inside a response varbind
        "301a020101040170a212020100020100020100300630040601ff0500",
    ],
)
def test_snmp_rejects_malformed_ber(hex_data: str) -> None:
    with pytest.raises(DecodeError):
        snmp.extract(udp_frame(bytes.fromhex(hex_data), 161, 50000), CTX)


def test_snmp_decodes_oid_first_arcs() -> None:
    # X.690 §8.19.4: 0x2b = 1.3; 0x86 0x48 = 840
    assert snmp.decode_oid(bytes.fromhex("2b0601028648")) == "1.3.6.1.2.840"
