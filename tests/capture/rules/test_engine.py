"""RuleEngine and FindingStore: draining, throttled updates, bounds, rule bugs, JSON shape."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from capture.findings import FindingKind, Status
from capture.frame import Frame
from capture.rules.engine import Packet, RuleEngine, probe_kind
from firmware.config import config_from_dict
from firmware.errors import ConfigError
from tests.capture.rules.packets import SCANNER_MAC, server_obs, tcp, udp

EngineFactory = Callable[..., RuleEngine]


def _scan(engine: RuleEngine, start: float, ports: range, src: str = "192.168.1.10") -> None:
    for i, port in enumerate(ports):
        engine.on_frame(tcp(start + i * 0.01, src, "192.168.1.20", 40000, port, "S"))


def test_drain_returns_a_new_finding_once(make_engine: EngineFactory) -> None:
    engine = make_engine()
    _scan(engine, 0.0, range(1, 30))
    assert [f.rule_id for f in engine.drain()] == ["port-scan"]
    assert engine.drain() == []
    assert len(engine.findings()) == 1


def test_count_only_updates_are_reported_at_most_once_per_update_interval(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(update_interval_s=60.0)
    _scan(engine, 0.0, range(1, 30))
    engine.drain()
    _scan(engine, 10.0, range(30, 60))  # 10 s later: no new report yet
    assert engine.drain() == []
    _scan(engine, 70.0, range(60, 70))  # 70 s after the first report
    (update,) = engine.drain()
    assert update.count == 69  # ports 1..69, one alert
    assert update.status is Status.ACTIVE


def test_tick_reports_the_last_unreported_update(make_engine: EngineFactory) -> None:
    engine = make_engine(update_interval_s=60.0)
    _scan(engine, 0.0, range(1, 30))
    engine.drain()
    _scan(engine, 10.0, range(30, 40))
    engine.tick(75.0)
    (update,) = engine.drain()
    assert update.count == 39


def test_status_changes_are_reported_immediately(make_engine: EngineFactory) -> None:
    engine = make_engine(update_interval_s=3600.0)
    engine.on_observation(server_obs(1.0, "rfb", {"security_types": (1,)}, server_port=5900), None)
    engine.drain()
    engine.on_observation(server_obs(2.0, "rfb", {"security_types": (2,)}, server_port=5900), None)
    (update,) = engine.drain()
    assert update.status is Status.HEALTHY


def test_findings_beyond_the_maximum_are_dropped_and_counted(make_engine: EngineFactory) -> None:
    engine = make_engine(findings_max=16)
    for i in range(20):
        obs = server_obs(1.0, "telnet", {"options": (1,)}, server_mac=f"02:00:00:00:10:{i:02x}")
        engine.on_observation(obs, None)
    assert len(engine.findings()) == 16
    engine.drain()
    assert engine.counters["dropped[findings]"] == 4


class _Broken(Exception):
    pass


def test_a_rule_bug_is_counted_and_logged_once_and_capture_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = RuleEngine(config_from_dict({}).detect, strict=False)
    rule = next(r for r in engine.rules if type(r).__name__ == "PortScan")

    def broken(packet: Packet) -> None:
        raise _Broken("bug")

    rule.on_frame = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="capture.rules.engine"):
        _scan(engine, 0.0, range(1, 60))
    assert engine.counters["errors[capture.rules.port_scan]"] == 59
    assert len([r for r in caplog.records if "port_scan" in r.getMessage()]) == 1
    assert engine.findings() == []  # the other rules ran; one target host is no address scan


def test_a_rule_bug_is_raised_under_strict(make_engine: EngineFactory) -> None:
    engine = make_engine()
    rule = next(r for r in engine.rules if type(r).__name__ == "PortScan")

    def broken(packet: Packet) -> None:
        raise _Broken("bug")

    rule.on_frame = broken  # type: ignore[method-assign]
    with pytest.raises(_Broken):
        engine.on_frame(tcp(0.0, "192.168.1.10", "192.168.1.20", 40000, 80, "S"))


def test_alert_json_has_the_inspect_fields(make_engine: EngineFactory) -> None:
    engine = make_engine()
    _scan(engine, 0.0, range(1, 30))
    (alert,) = engine.findings()
    record = alert.to_json()
    assert set(record) == {
        "kind", "rule_id", "title", "severity", "devices", "first_seen", "last_seen", "count",
        "attack_technique", "status", "evidence",
    }  # fmt: skip
    assert record["kind"] == str(FindingKind.ALERT)
    assert record["devices"][0] == SCANNER_MAC
    assert record["evidence"]["threshold"] == 25


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("S", "syn"), ("F", "fin"), ("", "null"), ("FPU", "xmas"), ("P", "tcp_other"),
     ("SA", None), ("A", None), ("R", None), ("RA", None), ("FA", None)],
)  # fmt: skip
def test_probe_kind_of_tcp_flags(flags: str, expected: str | None) -> None:
    assert probe_kind(tcp(0.0, "10.0.0.1", "10.0.0.2", 40000, 80, flags)) == expected


@pytest.mark.parametrize(
    ("sport", "dport", "dst", "expected"),
    [
        (40000, 53, "10.0.0.2", "udp"),  # a query is a probe of the server
        (53, 40000, "10.0.0.2", None),  # the answer is not
        (53, 200, "10.0.0.2", None),  # DNS answering a low client port
        (123, 123, "10.0.0.2", None),  # NTP symmetric
        (161, 50000, "10.0.0.2", None),  # SNMP response
        (80, 50000, "10.0.0.2", None),  # well-known to ephemeral
        (50000, 7, "10.0.0.2", "udp"),
        (5353, 5353, "224.0.0.251", None),  # multicast is no host's probe
        (68, 67, "255.255.255.255", None),
    ],
)
def test_probe_kind_of_udp(sport: int, dport: int, dst: str, expected: str | None) -> None:
    frame: Frame = udp(0.0, "10.0.0.1", dst, sport, dport)
    assert probe_kind(frame) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port_scan_ports", 1),
        ("sources_tracked_max", 0),
        ("findings_max", 1),
        ("stale_after_s", 0.0),
        ("scanner_allowlist", ["not-an-address"]),
        ("scanner_allowlist", ["10.0.0.0/33"]),
        ("scanner_allowlist", "10.0.0.1"),
    ],
)
def test_invalid_detect_options_are_rejected(key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"detect": {key: value}})
    assert f"detect.{key}" in str(info.value)


def test_valid_allowlist_entries_are_accepted() -> None:
    entries = ["10.0.0.5", "AA:BB:CC:DD:EE:FF", "192.168.0.0/16", "fd00::/8", "fe80::1"]
    detect = config_from_dict({"detect": {"scanner_allowlist": entries}}).detect
    engine = RuleEngine(detect)
    assert engine.allowlist.contains("aa:bb:cc:dd:ee:ff", None)
    assert engine.allowlist.contains(None, "192.168.44.1")
    assert engine.allowlist.contains(None, "fd12::1")
    assert not engine.allowlist.contains(None, "10.0.0.6")


def test_memory_stays_bounded_under_a_flood_of_sources(make_engine: EngineFactory) -> None:
    engine = make_engine(sources_tracked_max=64)
    for i in range(5000):
        src = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        engine.on_frame(tcp(1.0 + i * 0.001, src, f"192.168.1.{i % 200}", 40000, 1 + i % 500, "S"))
    tables = [t for rule in engine.rules for t in vars(rule).values() if hasattr(t, "max_sources")]
    assert len(tables) >= 8
    assert all(len(table) <= 64 for table in tables)
    engine.tick(10.0)
    assert engine.counters["dropped[port_scan_pairs]"] == 5000 - 64
