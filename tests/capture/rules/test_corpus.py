"""Real captures (../shared/corpus) end to end: sniffer reader → Pipeline → RuleEngine.

What each capture must raise comes from corpus/MANIFEST.md (tool-derived facts and notes):
the scan captures' per-source distinct-port/target counts, the ARP poisoning note, the SNMP
versions and the RFB security types.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from capture.findings import Finding, Status
from capture.pipeline import Pipeline
from capture.rules.engine import RuleEngine
from capture.sniffer import open_capture
from firmware.config import load_config
from tests.conftest import CORPUS, require

pytestmark = pytest.mark.corpus

SCAN_RULES = frozenset(("port-scan", "address-scan", "address-scan-slow", "arp-scan", "icmp-sweep"))


def _extractors() -> tuple[ModuleType, ...]:
    """The registry's extractors, plus any of ours written but not registered yet."""
    from capture.extractors.registry import EXTRACTORS

    extra = []
    for name in ("snmp", "telnet", "rfb"):
        if importlib.util.find_spec(f"capture.extractors.{name}") is not None:
            module = importlib.import_module(f"capture.extractors.{name}")
            if module not in EXTRACTORS:
                extra.append(module)
    return EXTRACTORS + tuple(extra)


@cache
def _findings(name: str) -> tuple[Finding, ...]:
    config = load_config()
    engine = RuleEngine(config.detect, strict=True)
    pipeline = Pipeline(config, rules=engine, extractors=_extractors())
    for raw in open_capture(CORPUS / name):
        pipeline.process(raw.data, raw.at, raw.linktype, raw.vlan)
    assert pipeline.rules is not None
    return tuple(pipeline.rules.findings())


def _rule(name: str, rule_id: str) -> list[Finding]:
    return [f for f in _findings(name) if f.rule_id == rule_id]


# (capture, probe kind, scanner IP, target IP, distinct ports): MANIFEST.md "Scan heuristic".
# The sensor counts the ports that did not accept the connection (an open port's SYN-ACK
# removes it) and, for UDP, the ports below 1024 the kernel filter admits (42 of nmap's top
# 100 UDP ports, counted with tshark on the capture).
PORT_SCANS = [
    ("chrissanders-packets/synscan.pcapng", "syn", "172.16.0.8", "64.13.134.52", 1000),
    ("nmap-scan-detection-lab/nmap_sS.pcapng", "syn", "192.168.29.14", "192.168.29.115", 1000),
    ("nmap-scan-detection-lab/nmap_sN.pcapng", "null", "192.168.29.14", "192.168.29.115", 1000),
    ("nmap-scan-detection-lab/nmap_sF.pcapng", "fin", "192.168.29.14", "192.168.29.115", 1000),
    ("nmap-scan-detection-lab/nmap_sU_top100.pcapng", "udp", "192.168.29.14", "192.168.29.115", 42),
]


@pytest.mark.parametrize(("name", "kind", "scanner", "target", "ports"), PORT_SCANS)
def test_port_scan_capture_raises_one_port_scan_alert(
    corpus: Path, name: str, kind: str, scanner: str, target: str, ports: int
) -> None:
    (alert,) = _rule(name, "port-scan")
    assert alert.evidence["source_ip"] == scanner
    assert alert.evidence["target_ip"] == target
    assert set(alert.evidence["probe_kinds"]) == {kind}
    assert alert.attack_technique == "T1046"
    # Every probed port except the few open ones the capture shows accepting.
    assert ports - 3 <= alert.count <= ports


def test_nmap_arp_ping_sweep_raises_arp_scan_of_255_addresses(corpus: Path) -> None:
    (alert,) = _rule("nmap-scan-detection-lab/nmap_PR_sn.pcapng", "arp-scan")
    assert alert.devices == ("08:00:27:c4:76:6b",)
    assert alert.count == 255


def test_icmp_sweep_capture_raises_icmp_sweep_of_256_hosts(corpus: Path) -> None:
    (alert,) = _rule("lucaderi-sgr/hs-icmpScan.pcap", "icmp-sweep")
    assert alert.evidence["source_ip"] == "10.0.0.128"
    assert alert.count == 256


def test_arp_poisoning_capture_raises_arp_spoofing_of_the_gateway_address(corpus: Path) -> None:
    (alert,) = _rule("chrissanders-packets/arppoison.pcapng", "arp-spoofing")
    assert alert.devices == ("00:25:b3:bf:91:ee",)
    assert alert.attack_technique == "T1557.002"
    assert "172.16.0.1" in alert.evidence["unsolicited_reply_ips"]


def _negatives() -> list[str]:
    names = [
        "nmap-scan-detection-lab/nmap_sS_T1.pcapng",
        "nmap-scan-detection-lab/nmap_combined.pcapng",
        "chrissanders-packets/arppoison.pcapng",
        "nDPI/teams.pcap",
        "nDPI/iphone.pcap",
        "zeek/snmp__snmpv1_get.pcap",
    ]
    if CORPUS.is_dir():
        names += sorted(
            str(p.relative_to(CORPUS)) for p in (CORPUS / "IoT_Sentinel").glob("*.pcap")
        )
        for pattern in ("*dhcp*.pcap*", "*lldp*.pcap*", "*mdns*.pcap*"):
            names += sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob(f"*/{pattern}"))
    return names


@pytest.mark.parametrize("name", _negatives())
def test_capture_without_a_scan_raises_no_scan_alert(corpus: Path, name: str) -> None:
    scans = [f.rule_id for f in _findings(name) if f.rule_id in SCAN_RULES]
    assert scans == []


def _require_extractor(name: str) -> None:
    names = {module.NAME for module in _extractors()}
    require(name in names, f"extractor {name!r} not written yet")


# MANIFEST.md: the SNMP version each capture's agent answers with (or sends traps in).
SNMP_LEGACY = [
    "zeek/snmp__snmpv1_get.pcap",
    "zeek/snmp__snmpv1_trap.pcap",
    "zeek/snmp__snmpv2_get.pcap",
    "zeek/snmp__snmpv2_get_bulk.pcap",
    "zeek/snmp__snmpwalk-short.pcap",
    "suricata-verify/snmp-v2c-get__SNMPv2c_get_requests.pcap",
    "nDPI/snmp.pcap",
]
SNMP_V3_ONLY = ["zeek/snmp__snmpv3_get_next.pcap", "suricata-verify/snmp-v3-encrypted__SNMPv3.pcap"]


@pytest.mark.parametrize("name", SNMP_LEGACY)
def test_snmp_v1_v2c_capture_raises_snmp_v1_v2(corpus: Path, name: str) -> None:
    _require_extractor("snmp")
    recs = _rule(name, "snmp-v1-v2")
    assert recs
    assert all(
        r.title == "Remove insecure administration protocols SNMP v1 and SNMP v2" for r in recs
    )
    assert all("community_hash" not in repr(r.evidence) for r in recs)


def test_snmp_public_community_is_reported_as_default(corpus: Path) -> None:
    _require_extractor("snmp")
    (rec,) = _rule("zeek/snmp__snmpwalk-short.pcap", "snmp-v1-v2")  # community "public"
    assert rec.evidence["first_community_default"] is True
    assert rec.status is Status.UNHEALTHY


@pytest.mark.parametrize("name", SNMP_V3_ONLY)
def test_snmpv3_capture_raises_no_snmp_recommendation(corpus: Path, name: str) -> None:
    _require_extractor("snmp")
    assert _rule(name, "snmp-v1-v2") == []


@pytest.mark.parametrize("name", ["markofu-pcaps/telnet.pcap", "arkime/mpls-basic.pcap"])
def test_telnet_capture_raises_telnet_enabled_but_not_no_auth(corpus: Path, name: str) -> None:
    _require_extractor("telnet")
    (rec,) = _rule(name, "telnet-enabled")
    assert rec.evidence["first_port"] == 23
    assert _rule(name, "telnet-no-auth") == []  # both ask for a password (MANIFEST.md)


RFB_CAPTURES = [
    "suricata-verify/rfb-protocol-3.3__06-vnc-Password-3.3.pcap",
    "suricata-verify/rfb-rules__00-vnc-openwall-3.7.pcap",
    "suricata-verify/rfb-failure__rfb_failure_16.pcap",
    "zeek/rfb__vncmac.pcap",
    "zeek/rfb__vnc-scanner.pcap",
]


@pytest.mark.parametrize("name", RFB_CAPTURES)
def test_rfb_capture_with_authentication_raises_no_vnc_no_auth(corpus: Path, name: str) -> None:
    _require_extractor("rfb")
    assert _rule(name, "vnc-no-auth") == []


@pytest.mark.slow
def test_no_other_corpus_capture_raises_a_scan_or_arp_alert(corpus: Path) -> None:
    positives = {name for name, *_ in PORT_SCANS} | {
        "nmap-scan-detection-lab/nmap_PR_sn.pcapng",
        "lucaderi-sgr/hs-icmpScan.pcap",
        "chrissanders-packets/arppoison.pcapng",
    }
    raised = {}
    for path in sorted(CORPUS.rglob("*.pcap*")):
        name = str(path.relative_to(CORPUS))
        if name in positives:
            continue
        rules = sorted(
            f.rule_id
            for f in _findings(name)
            if f.rule_id not in ("new-device", "snmp-v1-v2", "telnet-enabled")
        )
        if rules:
            raised[name] = rules
    assert raised == {}
