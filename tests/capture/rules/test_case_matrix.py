"""Case matrix: every rule with positive and negative built cases; precision and recall enforced.

A positive case must raise its rule (recommendation unhealthy / alert active); a negative case
must not raise it. Over the matrix: precision = TP / (TP + FP) must be 1.00 (no negative
raises), recall = TP / (TP + FN) must be at least 0.99. Each case is also a test of its own,
so a failure names the case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from capture.device import DeviceRecord
from capture.findings import Status
from capture.frame import Frame
from capture.observation import Observation
from capture.rules.engine import RuleEngine
from tests.capture.rules.conftest import build_engine
from tests.capture.rules.packets import (
    GATEWAY_MAC,
    SCANNER_MAC,
    TARGET_MAC,
    arp,
    client_obs,
    icmp_echo,
    server_obs,
    tcp,
    udp,
)

Event = Frame | Observation | DeviceRecord
S, T = "192.168.1.10", "192.168.1.20"


@dataclass(frozen=True)
class Case:
    name: str
    rule_id: str
    positive: bool
    events: Callable[[], Iterable[Event]]
    detect: dict[str, Any] = field(default_factory=dict)


def run(case: Case) -> bool:
    """True when the case's rule was raised (unhealthy recommendation or active alert)."""
    engine: RuleEngine = build_engine(**case.detect)
    for event in case.events():
        if isinstance(event, Frame):
            engine.on_frame(event)
        elif isinstance(event, Observation):
            engine.on_observation(event, None)
        else:
            engine.on_device_new(event)
    return any(
        f.rule_id == case.rule_id and f.status in (Status.UNHEALTHY, Status.ACTIVE)
        for f in engine.findings()
    )


# --- event builders -------------------------------------------------------------------------


def telnet(facts: dict[str, Any], port: int = 23) -> Callable[[], list[Event]]:
    return lambda: [server_obs(10.0, "telnet", facts, server_port=port)]


def snmp_answer(version: str, pdu: str = "response", **facts: Any) -> Callable[[], list[Event]]:
    all_facts = {"version": version, "pdu": pdu, "community_hash": "00aa", **facts}
    return lambda: [server_obs(1.0, "snmp", all_facts, server_port=161, transport="udp")]


def rfb(**facts: Any) -> Callable[[], list[Event]]:
    return lambda: [server_obs(1.0, "rfb", facts, server_port=5900)]


def port_scan(
    n: int, flags: str = "S", step_s: float = 0.01, *, src: str = S, vlan_dst: str = T
) -> Callable[[], list[Event]]:
    return lambda: [tcp(100.0 + i * step_s, src, vlan_dst, 40000, 1 + i, flags) for i in range(n)]


def udp_scan(n: int) -> Callable[[], list[Event]]:
    return lambda: [udp(100.0 + i * 0.05, S, T, 53000, 1 + i) for i in range(n)]


def answers_from(sport: int, n: int) -> Callable[[], list[Event]]:
    """A service answering one client on many client ports (and low ports too)."""
    return lambda: (
        [udp(10.0 + i * 0.1, T, S, sport, 1024 + 13 * i) for i in range(n)]
        + [udp(10.0 + i * 0.1, T, S, sport, 100 + i) for i in range(n)]
    )


def connect_scan_with_open_ports(n: int, open_ports: set[int]) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        out: list[Event] = []
        for i in range(n):
            port = 1 + i
            out.append(tcp(100.0 + i * 0.01, S, T, 41000 + i, port, "S"))
            if port in open_ports:
                out.append(tcp(100.0 + i * 0.01, T, S, port, 41000 + i, "SA"))
        return out

    return events


def host_sweep(
    n: int, port: int = 445, step_s: float = 0.1, proto: str = "tcp"
) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        if proto == "udp":
            return [
                udp(10.0 + i * step_s, S, f"10.1.{i // 250}.{i % 250 + 1}", 52000, port)
                for i in range(n)
            ]
        return [
            tcp(10.0 + i * step_s, S, f"10.1.{i // 250}.{i % 250 + 1}", 40000, port)
            for i in range(n)
        ]

    return events


def accepted_connections(n: int) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        out: list[Event] = []
        for i in range(n):
            host = f"10.2.{i // 250}.{i % 250 + 1}"
            out.append(tcp(10.0 + i * 0.05, S, host, 40000 + i, 443, "S"))
            out.append(tcp(10.02 + i * 0.05, host, S, 443, 40000 + i, "SA"))
        return out

    return events


def multicast_chatter(n: int) -> Callable[[], list[Event]]:
    return lambda: (
        [udp(1.0 + i, S, "224.0.0.251", 5353, 5353) for i in range(n)]
        + [udp(1.0 + i, S, "239.255.255.250", 40000 + i, 1900) for i in range(n)]
        + [udp(1.0 + i, S, "255.255.255.255", 68, 67) for i in range(n)]
    )


def dhcp_exchanges(n: int) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        out: list[Event] = []
        for i in range(n):
            mac = f"02:00:00:00:02:{i:02x}"
            out.append(udp(1.0 + i, "0.0.0.0", "255.255.255.255", 68, 67, src_mac=mac))
            out.append(
                udp(1.1 + i, "192.168.1.1", f"192.168.1.{100 + i}", 67, 68, src_mac=GATEWAY_MAC)
            )
        return out

    return events


def pings(n: int, reply: bool = False) -> Callable[[], list[Event]]:
    if reply:
        return lambda: [
            icmp_echo(1.0 + i * 0.01, f"10.3.0.{i + 1}", S, reply=True) for i in range(n)
        ]
    return lambda: [
        icmp_echo(1.0 + i * 0.01, S, f"10.3.{i // 250}.{i % 250 + 1}") for i in range(n)
    ]


def arp_questions(
    n: int, answered: bool = False, step_s: float = 0.05
) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        out: list[Event] = []
        for i in range(n):
            ip = f"192.168.{i // 250}.{i % 250 + 1}"
            out.append(arp(1.0 + i * step_s, 1, SCANNER_MAC, S, ip))
            if answered:
                mac = f"02:00:00:00:03:{i % 256:02x}"
                out.append(arp(1.0 + i * step_s + 0.001, 2, mac, ip, S, SCANNER_MAC))
        return out

    return events


def announcements(n: int, step_s: float = 1.0) -> Callable[[], list[Event]]:
    return lambda: [arp(1.0 + i * step_s, 1, TARGET_MAC, T, T) for i in range(n)]


def two_claims(second_mac: str, gap_s: float = 10.0) -> Callable[[], list[Event]]:
    return lambda: [
        arp(10.0, 2, GATEWAY_MAC, "192.168.1.1", S, SCANNER_MAC),
        arp(10.0 + gap_s, 2, second_mac, "192.168.1.1", S, SCANNER_MAC),
    ]


def poisoning(solicited: bool) -> Callable[[], list[Event]]:
    attacker, victim = "02:00:00:00:00:66", "02:00:00:00:00:77"

    def events() -> list[Event]:
        out: list[Event] = []
        if solicited:
            out.append(arp(4.5, 1, victim, "192.168.1.107", "192.168.1.1"))
        out.append(arp(4.6, 2, attacker, "192.168.1.1", "192.168.1.107", victim))
        out.append(arp(14.4, 1, attacker, "192.168.1.105", "192.168.1.1"))
        return out

    return events


def telnet_failures(n: int, step_s: float) -> Callable[[], list[Event]]:
    facts = {"text": "Login incorrect", "login_prompt": True, "auth_failed": True}
    return lambda: [
        server_obs(1.0 + i * step_s, "telnet", facts, client_port=50000 + i) for i in range(n)
    ]


def vnc_failures(n: int) -> Callable[[], list[Event]]:
    return lambda: [
        server_obs(
            1.0 + i, "rfb", {"auth_result": "failed"}, server_port=5900, client_port=50000 + i
        )
        for i in range(n)
    ]


def snmp_communities(n: int, answered: bool) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        out: list[Event] = []
        for i in range(n):
            community = f"{i:04x}"
            out.append(
                client_obs(
                    1.0 + i, "snmp", {"version": "1", "pdu": "get", "community_hash": community}
                )
            )
            if answered:
                facts = {"version": "1", "pdu": "response", "community_hash": community}
                out.append(server_obs(1.01 + i, "snmp", facts, server_port=161, transport="udp"))
        return out

    return events


def device_appears(after_s: float, mac: str = "00:1b:a9:00:00:99") -> Callable[[], list[Event]]:
    return lambda: [
        tcp(1000.0, S, T, 40000, 80, "S"),
        DeviceRecord(
            key=mac,
            mac=mac,
            first_seen=1000.0 + after_s,
            last_seen=1000.0 + after_s,
        ),
    ]


# --- the matrix --------------------------------------------------------------------------------

DAY = 86400.0
POSITIVES = [
    Case(
        "telnet IAC on 23",
        "telnet-enabled",
        True,
        telnet({"options": (1, 3), "login_prompt": True}),
    ),
    Case("telnet IAC on 2323", "telnet-enabled", True, telnet({"options": (1, 3, 24)}, port=2323)),
    Case(
        "telnet banner only on 8023",
        "telnet-enabled",
        True,
        telnet({"text": "BusyBox v1.19 login:", "login_prompt": True}, port=8023),
    ),
    Case(
        "telnet shell prompt", "telnet-no-auth", True, telnet({"text": "# ", "shell_prompt": True})
    ),
    Case(
        "telnet vendor shell",
        "telnet-no-auth",
        True,
        telnet({"text": "Polycom Command Shell\r\n-> ", "shell_prompt": True, "options": (1,)}),
    ),
    Case(
        "telnet shell on 2323",
        "telnet-no-auth",
        True,
        telnet({"text": "$ ", "shell_prompt": True}, port=2323),
    ),
    Case("snmp v1 public", "snmp-v1-v2", True, snmp_answer("1", community_default=True)),
    Case("snmp v2c custom", "snmp-v1-v2", True, snmp_answer("2c", community_default=False)),
    Case("snmp v1 trap", "snmp-v1-v2", True, snmp_answer("1", pdu="trap")),
    Case("rfb 3.8 offers None", "vnc-no-auth", True, rfb(version="003.008", security_types=(1,))),
    Case(
        "rfb 3.8 offers VNC auth and None",
        "vnc-no-auth",
        True,
        rfb(version="003.008", security_types=(2, 1)),
    ),
    Case("rfb 3.3 selects None", "vnc-no-auth", True, rfb(version="003.003", selected_type=1)),
    Case("syn scan 25 ports", "port-scan", True, port_scan(25)),
    Case("syn scan 1000 ports", "port-scan", True, port_scan(1000, step_s=0.001)),
    Case("syn scan 30 ports in 100 s", "port-scan", True, port_scan(30, step_s=3.3)),
    Case("fin scan", "port-scan", True, port_scan(40, "F")),
    Case("null scan", "port-scan", True, port_scan(40, "")),
    Case("xmas scan", "port-scan", True, port_scan(40, "FPU")),
    Case("udp scan", "port-scan", True, udp_scan(30)),
    Case(
        "connect scan with open ports",
        "port-scan",
        True,
        connect_scan_with_open_ports(40, {22, 80, 443}),
    ),
    Case("address scan tcp/445", "address-scan", True, host_sweep(50)),
    Case("address scan udp/161", "address-scan", True, host_sweep(60, port=161, proto="udp")),
    Case("slow address scan", "address-scan-slow", True, host_sweep(50, port=23, step_s=60.0)),
    Case("icmp sweep 50", "icmp-sweep", True, pings(50)),
    Case("icmp sweep 256", "icmp-sweep", True, pings(256)),
    Case("arp scan 40", "arp-scan", True, arp_questions(40)),
    Case("arp scan 255 over 5 min", "arp-scan", True, arp_questions(255, step_s=1.1)),
    Case("telnet password guessing", "password-guessing", True, telnet_failures(10, 20.0)),
    Case("vnc password guessing", "password-guessing", True, vnc_failures(10)),
    Case(
        "snmp community guessing", "password-guessing", True, snmp_communities(12, answered=False)
    ),
    Case("new device after learning", "new-device", True, device_appears(8 * DAY)),
    Case("ip claimed by two macs", "address-conflict", True, two_claims(TARGET_MAC)),
    Case("arp poisoning", "arp-spoofing", True, poisoning(solicited=False)),
    Case("gratuitous arp storm", "gratuitous-arp-storm", True, announcements(40, step_s=0.5)),
]
NEGATIVES = [
    Case(
        "port 23 accepts, no telnet bytes",
        "telnet-enabled",
        False,
        lambda: [tcp(1.0, T, S, 23, 50000, "SA"), server_obs(1.0, "tcp_syn", {"port": 23})],
    ),
    Case(
        "port 2323 accepts, no telnet bytes",
        "telnet-enabled",
        False,
        lambda: [tcp(1.0, T, S, 2323, 50000, "SA")],
    ),
    Case(
        "telnet with login prompt",
        "telnet-no-auth",
        False,
        telnet({"options": (1,), "text": "login: ", "login_prompt": True}),
    ),
    Case(
        "telnet password required",
        "telnet-no-auth",
        False,
        telnet({"text": "Password required, but none set", "password_prompt": True}),
    ),
    Case(
        "telnet 2323 with login prompt",
        "telnet-no-auth",
        False,
        telnet({"options": (1, 3), "login_prompt": True}, port=2323),
    ),
    Case("snmpv3 only", "snmp-v1-v2", False, snmp_answer("3")),
    Case("snmpv3 report only", "snmp-v1-v2", False, snmp_answer("3", pdu="report")),
    Case(
        "snmp v2c request without answer",
        "snmp-v1-v2",
        False,
        lambda: [client_obs(1.0, "snmp", {"version": "2c", "pdu": "get"})],
    ),
    Case("vnc auth type 2", "vnc-no-auth", False, rfb(version="003.008", security_types=(2,))),
    Case("rfb 3.3 selects vnc auth", "vnc-no-auth", False, rfb(version="003.003", selected_type=2)),
    Case(
        "rfb 3.7 tls and vnc auth",
        "vnc-no-auth",
        False,
        rfb(version="003.007", security_types=(18, 2)),
    ),
    Case("rfb apple ard", "vnc-no-auth", False, rfb(version="003.889", security_types=(30, 35))),
    Case("24 ports", "port-scan", False, port_scan(24)),
    Case("slow scan under threshold", "port-scan", False, port_scan(40, step_s=6.0)),
    Case("nmap -T1 six probes", "port-scan", False, port_scan(6, step_s=15.0)),
    Case("allow-listed scanner ip", "port-scan", False, port_scan(200), {"scanner_allowlist": [S]}),
    Case(
        "allow-listed scanner mac",
        "port-scan",
        False,
        port_scan(200),
        {"scanner_allowlist": [SCANNER_MAC]},
    ),
    Case(
        "allow-listed scanner network",
        "port-scan",
        False,
        port_scan(200),
        {"scanner_allowlist": ["192.168.1.0/24"]},
    ),
    Case("dns answers to many ports", "port-scan", False, answers_from(53, 100)),
    Case("ntp answers to many ports", "port-scan", False, answers_from(123, 100)),
    Case("snmp agent answers to many ports", "port-scan", False, answers_from(161, 100)),
    Case("mdns answers to many ports", "port-scan", False, answers_from(5353, 100)),
    Case(
        "syn-ack storm",
        "port-scan",
        False,
        lambda: [tcp(1.0 + i * 0.01, T, S, 1 + i, 40000, "SA") for i in range(300)],
    ),
    Case(
        "closed-port resets",
        "port-scan",
        False,
        lambda: [tcp(1.0 + i * 0.01, T, S, 1 + i, 40000, "RA", seq=0) for i in range(300)],
    ),
    Case("client with accepted connections", "address-scan", False, accepted_connections(300)),
    Case(
        "client with accepted connections, slow",
        "address-scan-slow",
        False,
        accepted_connections(300),
    ),
    Case("multicast and broadcast chatter", "address-scan", False, multicast_chatter(100)),
    Case("dhcp exchanges", "address-scan", False, dhcp_exchanges(100)),
    Case("49 hosts", "address-scan", False, host_sweep(49)),
    Case(
        "allow-listed host sweep",
        "address-scan",
        False,
        host_sweep(100),
        {"scanner_allowlist": [S]},
    ),
    Case("icmp 49 hosts", "icmp-sweep", False, pings(49)),
    Case("icmp echo replies", "icmp-sweep", False, pings(100, reply=True)),
    Case(
        "allow-listed monitoring pings",
        "icmp-sweep",
        False,
        pings(100),
        {"scanner_allowlist": [SCANNER_MAC]},
    ),
    Case("router resolving live hosts", "arp-scan", False, arp_questions(200, answered=True)),
    Case("arp 39 addresses", "arp-scan", False, arp_questions(39)),
    Case("arp questions spread over hours", "arp-scan", False, arp_questions(100, step_s=60.0)),
    Case("gratuitous announcements", "arp-scan", False, announcements(100)),
    Case("9 telnet failures", "password-guessing", False, telnet_failures(9, 1.0)),
    Case("telnet failures spread out", "password-guessing", False, telnet_failures(30, 60.0)),
    Case(
        "snmp polling with answered communities",
        "password-guessing",
        False,
        snmp_communities(30, answered=True),
    ),
    Case("new device while learning", "new-device", False, device_appears(6 * DAY)),
    Case(
        "randomised MAC after learning",
        "new-device",
        False,
        device_appears(8 * DAY, "da:a1:19:00:00:99"),
    ),
    Case("vrrp virtual mac", "address-conflict", False, two_claims("00:00:5e:00:01:0a")),
    Case("hsrp virtual mac", "address-conflict", False, two_claims("00:00:0c:07:ac:01")),
    Case("hsrp v2 virtual mac", "address-conflict", False, two_claims("00:00:0c:9f:f0:02")),
    Case(
        "address reused an hour later",
        "address-conflict",
        False,
        two_claims(TARGET_MAC, gap_s=3600.0),
    ),
    Case("solicited replies", "arp-spoofing", False, poisoning(solicited=True)),
    Case("29 announcements a minute", "gratuitous-arp-storm", False, announcements(29, step_s=2.0)),
    Case("announcements every 5 s", "gratuitous-arp-storm", False, announcements(100, step_s=5.0)),
]
CASES = POSITIVES + NEGATIVES


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{'pos' if c.positive else 'neg'}-{c.rule_id}-{c.name}" for c in CASES]
)
def test_case(case: Case) -> None:
    assert run(case) is case.positive


def test_matrix_precision_is_1_and_recall_at_least_0_99() -> None:
    assert len(CASES) >= 40
    assert len(POSITIVES) >= 20 and len(NEGATIVES) >= 20
    rules = {c.rule_id for c in POSITIVES}
    assert rules == {c.rule_id for c in NEGATIVES}, "every rule has positives and negatives"
    raised = [(case, run(case)) for case in CASES]
    tp = sum(1 for c, hit in raised if c.positive and hit)
    fn = sum(1 for c, hit in raised if c.positive and not hit)
    fp = sum(1 for c, hit in raised if not c.positive and hit)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    assert (precision, fp) == (1.0, 0)
    assert recall >= 0.99
