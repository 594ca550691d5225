"""The network alerts: built frames and observations, thresholds from default.toml."""

from __future__ import annotations

from collections.abc import Callable

from capture.findings import Finding, FindingKind, Status
from capture.rules.engine import RuleEngine
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

EngineFactory = Callable[..., RuleEngine]
SCANNER = "192.168.1.10"

TARGET = "192.168.1.20"


def _alerts(engine: RuleEngine, rule_id: str) -> list[Finding]:
    return [f for f in engine.findings() if f.rule_id == rule_id]


def _scan_ports(engine: RuleEngine, ports: range, flags: str = "S", step_s: float = 0.01) -> None:
    for i, port in enumerate(ports):
        engine.on_frame(tcp(1000.0 + i * step_s, SCANNER, TARGET, 40000, port, flags))


def test_syn_scan_of_25_ports_raises_one_port_scan_alert(make_engine: EngineFactory) -> None:
    engine = make_engine()
    _scan_ports(engine, range(1, 26))
    (alert,) = _alerts(engine, "port-scan")
    assert alert.kind is FindingKind.ALERT
    assert alert.status is Status.ACTIVE
    assert alert.attack_technique == "T1046"
    assert alert.devices == (SCANNER_MAC, TARGET_MAC)
    assert alert.count == 25
    assert alert.evidence["probe_kinds"] == {"syn": 25}
    assert alert.evidence["first_flow"] == f"tcp {SCANNER}:40000 -> {TARGET}:25"
    assert alert.first_seen == 1000.0  # the first probe of the window that crossed
    assert alert.last_seen == 1000.0 + 24 * 0.01


def test_24_ports_stay_under_the_threshold(make_engine: EngineFactory) -> None:
    engine = make_engine()
    _scan_ports(engine, range(1, 25))
    assert engine.findings() == []


def test_slow_port_scan_under_the_threshold_raises_nothing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    # 40 ports, one every 6 s: at most 21 distinct ports in any 120 s window.
    _scan_ports(engine, range(1, 41), step_s=6.0)
    assert engine.findings() == []


def test_allowlisted_scanner_raises_no_scan_alert(make_engine: EngineFactory) -> None:
    for entry in (SCANNER, SCANNER_MAC, "192.168.1.0/24"):
        engine = make_engine(scanner_allowlist=[entry])
        _scan_ports(engine, range(1, 200))
        for i in range(60):
            engine.on_frame(icmp_echo(2000.0 + i, SCANNER, f"192.168.2.{i}"))
        assert engine.findings() == [], entry


def test_fin_null_and_xmas_scans_are_port_scans(make_engine: EngineFactory) -> None:
    for flags, kind in (("F", "fin"), ("", "null"), ("FPU", "xmas")):
        engine = make_engine()
        _scan_ports(engine, range(1, 30), flags=flags)
        (alert,) = _alerts(engine, "port-scan")
        assert alert.evidence["probe_kinds"] == {kind: 29}


def test_udp_scan_is_a_port_scan(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i, port in enumerate(range(1, 31)):
        engine.on_frame(udp(10.0 + i * 0.1, SCANNER, TARGET, 51000, port))
    (alert,) = _alerts(engine, "port-scan")
    assert alert.evidence["probe_kinds"] == {"udp": 30}
    assert "udp/7" in alert.evidence["ports"]


def test_dns_answers_to_many_client_ports_are_not_a_udp_scan(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(200):
        engine.on_frame(udp(10.0 + i * 0.1, "192.168.1.1", SCANNER, 53, 1024 + i * 7))
        engine.on_frame(udp(10.0 + i * 0.1, "192.168.1.1", SCANNER, 53, 200 + i))
    assert engine.findings() == []


def test_syn_acks_and_resets_are_never_probes(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(200):
        engine.on_frame(tcp(10.0 + i * 0.01, TARGET, SCANNER, 80 + i, 40000, "SA"))
        engine.on_frame(tcp(10.0 + i * 0.01, f"192.168.3.{i}", SCANNER, 80, 40000 + i, "RA"))
    assert engine.findings() == []


def test_connect_scan_counts_closed_ports_and_not_the_ports_that_accepted(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    for i, port in enumerate(range(1, 31)):
        at = 10.0 + i * 0.01
        engine.on_frame(tcp(at, SCANNER, TARGET, 40000 + i, port, "S"))
        if port in (22, 25):  # open: SYN-ACK, then the client completes and resets
            engine.on_frame(tcp(at, TARGET, SCANNER, port, 40000 + i, "SA"))
    (alert,) = _alerts(engine, "port-scan")
    assert alert.count == 28


def test_client_opening_many_accepted_connections_is_not_scanning(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    for i in range(300):  # FTP passive data connections, browser tabs: every SYN answered
        host = f"192.168.4.{i % 250}"
        engine.on_frame(tcp(10.0 + i * 0.1, SCANNER, host, 40000 + i, 20000 + i, "S"))
        engine.on_frame(tcp(10.05 + i * 0.1, host, SCANNER, 20000 + i, 40000 + i, "SA"))
    assert engine.findings() == []


def test_repeats_within_the_repeat_window_update_one_alert(make_engine: EngineFactory) -> None:
    engine = make_engine(repeat_window_s=600.0)
    _scan_ports(engine, range(1, 40))
    first = engine.drain()
    assert [f.rule_id for f in first] == ["port-scan"]
    for i, port in enumerate(range(100, 140)):  # again 5 minutes later
        engine.on_frame(tcp(1300.0 + i * 0.01, SCANNER, TARGET, 40001, port))
    (alert,) = _alerts(engine, "port-scan")
    assert alert.dedup_key == first[0].dedup_key
    assert alert.count == 39 + 40
    assert alert.last_seen > 1300.0


def test_scan_after_the_repeat_window_opens_a_new_alert_and_closes_the_old(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(repeat_window_s=600.0)
    _scan_ports(engine, range(1, 40))
    (old,) = engine.drain()
    engine.tick(1000.0 + 601.0)
    (closed,) = engine.drain()
    assert closed.dedup_key == old.dedup_key and closed.status is Status.CLOSED
    for i, port in enumerate(range(1, 40)):
        engine.on_frame(tcp(5000.0 + i * 0.01, SCANNER, TARGET, 40002, port))
    (new,) = engine.drain()
    assert new.dedup_key != old.dedup_key and new.status is Status.ACTIVE
    assert len(engine.findings()) == 1  # the closed alert was drained, then forgotten


def test_address_scan_of_50_hosts_raises_address_scan(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(50):
        engine.on_frame(tcp(10.0 + i * 0.1, SCANNER, f"192.168.7.{i + 1}", 40000, 445))
    (alert,) = _alerts(engine, "address-scan")
    assert alert.attack_technique == "T1595.001"
    assert alert.devices == (SCANNER_MAC, TARGET_MAC)  # source, then the targets' keys
    assert alert.count == 50
    assert _alerts(engine, "address-scan-slow") == []
    assert _alerts(engine, "port-scan") == []


def test_slow_address_scan_raises_the_slow_variant(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(50):  # one host a minute: 2 per 2 min, 50 within the 60 min window
        engine.on_frame(tcp(10.0 + i * 60.0, SCANNER, f"192.168.7.{i + 1}", 40000, 23))
    assert _alerts(engine, "address-scan") == []
    (alert,) = _alerts(engine, "address-scan-slow")
    assert alert.count == 50


def test_icmp_echo_sweep_of_50_hosts_raises_icmp_sweep(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(50):
        engine.on_frame(icmp_echo(10.0 + i * 0.01, SCANNER, f"10.0.0.{i}"))
    (alert,) = _alerts(engine, "icmp-sweep")
    assert alert.attack_technique == "T1018"
    assert alert.count == 50


def test_echo_replies_are_not_a_sweep(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(100):
        engine.on_frame(icmp_echo(10.0 + i * 0.01, f"10.0.0.{i}", SCANNER, reply=True))
    assert engine.findings() == []


def test_arp_scan_of_40_unanswered_addresses_raises_arp_scan(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(40):
        engine.on_frame(arp(10.0 + i * 0.05, 1, SCANNER_MAC, SCANNER, f"192.168.1.{100 + i}"))
    (alert,) = _alerts(engine, "arp-scan")
    assert alert.devices == (SCANNER_MAC,)
    assert alert.count == 40


def test_router_resolving_live_neighbours_is_not_an_arp_scan(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(120):
        host_ip, host_mac = f"192.168.1.{i + 2}", f"02:00:00:00:01:{i:02x}"
        engine.on_frame(arp(10.0 + i, 1, GATEWAY_MAC, "192.168.1.1", host_ip))
        engine.on_frame(arp(10.0 + i + 0.001, 2, host_mac, host_ip, "192.168.1.1", GATEWAY_MAC))
    assert engine.findings() == []


def test_one_ip_claimed_by_two_macs_raises_address_conflict(make_engine: EngineFactory) -> None:
    engine = make_engine()
    engine.on_frame(arp(10.0, 2, GATEWAY_MAC, "192.168.1.1", SCANNER, SCANNER_MAC))
    engine.on_frame(arp(20.0, 2, TARGET_MAC, "192.168.1.1", SCANNER, SCANNER_MAC))
    (alert,) = _alerts(engine, "address-conflict")
    assert alert.attack_technique == "T1557.002"
    assert alert.devices == (TARGET_MAC, GATEWAY_MAC)
    assert alert.evidence["ip"] == "192.168.1.1"


def test_vrrp_and_hsrp_virtual_macs_are_exempt_from_address_conflict(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    for i, virtual in enumerate(("00:00:5e:00:01:0a", "00:00:0c:07:ac:01", "00:00:0c:9f:f0:01")):
        engine.on_frame(arp(10.0 + i, 2, GATEWAY_MAC, "192.168.1.1", SCANNER, SCANNER_MAC))
        engine.on_frame(arp(10.5 + i, 2, virtual, "192.168.1.1", SCANNER, SCANNER_MAC))
    assert engine.findings() == []


def test_ip_reused_long_after_the_old_owner_left_is_not_a_conflict(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(address_conflict_window_s=300.0)
    engine.on_frame(arp(10.0, 2, GATEWAY_MAC, "192.168.1.50", SCANNER, SCANNER_MAC))
    engine.on_frame(arp(10.0 + 3600.0, 2, TARGET_MAC, "192.168.1.50", SCANNER, SCANNER_MAC))
    assert engine.findings() == []


def test_unsolicited_reply_for_another_address_is_arp_spoofing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    attacker, victim = "02:00:00:00:00:66", "02:00:00:00:00:77"
    # The pattern of chrissanders-packets/arppoison.pcapng: claim the gateway, ask for yourself.
    engine.on_frame(arp(4.6, 2, attacker, "192.168.1.1", "192.168.1.107", victim))
    engine.on_frame(arp(14.4, 1, attacker, "192.168.1.105", "192.168.1.1"))
    (alert,) = _alerts(engine, "arp-spoofing")
    assert alert.devices == (attacker,)
    assert alert.evidence["unsolicited_reply_ips"] == ["192.168.1.1"]


def test_solicited_replies_for_two_addresses_are_not_spoofing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    host = "02:00:00:00:00:88"  # a host with two addresses answering questions about both
    for i, ip in enumerate(("192.168.1.30", "192.168.1.31")):
        engine.on_frame(arp(1.0 + i, 1, SCANNER_MAC, SCANNER, ip))
        engine.on_frame(arp(1.001 + i, 2, host, ip, SCANNER, SCANNER_MAC))
    assert engine.findings() == []


def test_gratuitous_arp_storm(make_engine: EngineFactory) -> None:
    engine = make_engine(gratuitous_arp_max=30, gratuitous_arp_window_s=60.0)
    for i in range(29):
        engine.on_frame(arp(1.0 + i, 1, TARGET_MAC, TARGET, TARGET))
    assert engine.findings() == []
    engine.on_frame(arp(30.5, 1, TARGET_MAC, TARGET, TARGET))
    (alert,) = _alerts(engine, "gratuitous-arp-storm")
    assert alert.devices == (TARGET_MAC,)


def _telnet_failure(at: float, client_port: int) -> object:
    facts = {"text": "Login incorrect\r\nlogin: ", "login_prompt": True, "auth_failed": True}
    return server_obs(at, "telnet", facts, client_port=client_port)


def test_ten_failed_telnet_logins_in_five_minutes_are_password_guessing(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_frame(tcp(0.5, SCANNER, TARGET, 50000, 23, "S"))  # names the client's MAC
    for i in range(9):
        engine.on_observation(_telnet_failure(1.0 + i * 20, 50000 + i), None)  # type: ignore[arg-type]
    assert _alerts(engine, "password-guessing") == []
    engine.on_observation(_telnet_failure(200.0, 50010), None)  # type: ignore[arg-type]
    (alert,) = _alerts(engine, "password-guessing")
    assert alert.attack_technique == "T1110"
    assert alert.devices == (SCANNER_MAC, TARGET_MAC)
    assert alert.count == 10
    assert alert.evidence["service"] == "telnet"


def test_failed_logins_spread_over_more_than_the_window_are_not_guessing(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    for i in range(20):
        engine.on_observation(_telnet_failure(1.0 + i * 60.0, 50000 + i), None)  # type: ignore[arg-type]
    assert engine.findings()[0].rule_id == "telnet-enabled"
    assert _alerts(engine, "password-guessing") == []


def test_vnc_authentication_failures_are_password_guessing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(10):
        facts = {"auth_result": "failed"}
        obs = server_obs(1.0 + i, "rfb", facts, server_port=5900, client_port=50000 + i)
        engine.on_observation(obs, None)
    (alert,) = _alerts(engine, "password-guessing")
    assert alert.evidence["service"] == "vnc"


def test_many_unanswered_snmp_communities_are_password_guessing(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    for i in range(10):
        request = client_obs(
            1.0 + i, "snmp", {"version": "2c", "pdu": "get", "community_hash": f"{i:016x}"}
        )
        engine.on_observation(request, None)
    (alert,) = _alerts(engine, "password-guessing")
    assert alert.evidence["service"] == "snmp"


def test_snmp_polling_with_the_right_community_is_not_guessing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(50):
        community = "a1" if i % 2 else "b2"  # two managers' communities, both answered
        engine.on_observation(
            client_obs(
                1.0 + i, "snmp", {"version": "2c", "pdu": "get", "community_hash": community}
            ),
            None,
        )
        answer = server_obs(
            1.01 + i,
            "snmp",
            {"version": "2c", "pdu": "response", "community_hash": community},
            server_port=161,
            transport="udp",
        )
        engine.on_observation(answer, None)
    assert _alerts(engine, "password-guessing") == []


def _device(key: str, first_seen: float) -> object:
    from capture.device import DeviceRecord

    return DeviceRecord(key=key, mac=key, first_seen=first_seen, last_seen=first_seen)


def test_new_device_after_the_learning_period_raises_new_device(make_engine: EngineFactory) -> None:
    engine = make_engine(learning_period_s=86400.0)
    engine.on_frame(tcp(1000.0, SCANNER, TARGET, 40000, 80, "S"))  # learning starts here
    engine.on_device_new(_device("00:1b:a9:00:00:31", 2000.0))  # type: ignore[arg-type]
    assert engine.findings() == []
    engine.on_device_new(_device("00:1b:a9:00:00:32", 1000.0 + 86400.0))  # type: ignore[arg-type]
    (alert,) = _alerts(engine, "new-device")
    assert alert.devices == ("00:1b:a9:00:00:32",)
    assert alert.attack_technique == "T1200"


def test_randomised_mac_never_raises_new_device(make_engine: EngineFactory) -> None:
    engine = make_engine(learning_period_s=86400.0)
    engine.on_frame(tcp(1000.0, SCANNER, TARGET, 40000, 80, "S"))
    # 0xda: locally administered bit set, as phones' per-network random MACs are.
    engine.on_device_new(_device("da:a1:19:00:00:01", 1000.0 + 90000.0))  # type: ignore[arg-type]
    assert _alerts(engine, "new-device") == []


def test_sources_beyond_the_tracked_maximum_are_dropped_and_counted(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(sources_tracked_max=16)
    for i in range(40):
        engine.on_frame(tcp(1.0, f"192.168.9.{i}", TARGET, 40000, 80, "S"))
    engine.tick(2.0)
    assert engine.counters["dropped[port_scan_pairs]"] == 24
    assert engine.counters["dropped[address_scan_sources]"] == 24


def test_a_session_repeating_its_failure_flag_counts_once(make_engine: EngineFactory) -> None:
    engine = make_engine()
    for i in range(30):  # three sessions, ten observations each (text growth, FIN)
        engine.on_observation(_telnet_failure(1.0 + i, 50000 + i // 10), None)  # type: ignore[arg-type]
    assert _alerts(engine, "password-guessing") == []


def test_ipv6_port_scan_and_icmpv6_echo_sweep(make_engine: EngineFactory) -> None:
    from tests.capture.rules.packets import icmp6_echo, tcp6

    engine = make_engine()
    for i in range(30):
        engine.on_frame(tcp6(1.0 + i * 0.01, "fd00::10", "fd00::20", 40000, 1 + i))
    for i in range(50):
        engine.on_frame(icmp6_echo(2.0 + i * 0.01, "fd00::10", f"fd00::1:{i:x}"))
    engine.on_frame(icmp6_echo(3.0, "fd00::10", "ff02::1"))  # all-nodes multicast: no host
    (scan,) = _alerts(engine, "port-scan")
    assert scan.evidence["target_ip"] == "fd00::20"
    (sweep,) = _alerts(engine, "icmp-sweep")
    assert sweep.count == 50


def test_a_mac_spoofing_a_whole_subnet_keeps_bounded_state(make_engine: EngineFactory) -> None:
    engine = make_engine()
    attacker = "02:00:00:00:00:66"
    for i in range(1000):
        engine.on_frame(
            arp(1.0 + i * 0.01, 2, attacker, f"10.9.{i // 250}.{i % 250}", SCANNER, TARGET_MAC)
        )
    rule = next(r for r in engine.rules if type(r).__name__ == "AddressConflict")
    claimer = rule._claimers.peek((None, attacker))  # type: ignore[attr-defined]
    assert len(claimer.ips) <= 8 and len(claimer.unsolicited) <= 8
    (alert,) = _alerts(engine, "arp-spoofing")
    assert alert.devices == (attacker,)
