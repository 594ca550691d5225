"""capture.pipeline: the per-packet boundaries (weird, errors, strict), dedup, rules wiring."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from capture.device import DeviceRecord
from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.registry import CONTRACT, EXTRACTORS
from capture.findings import Finding, FindingKind, Severity
from capture.frame import Frame
from capture.observation import Observation, Role
from capture.pipeline import Pipeline
from capture.sniffer import open_capture
from capture.triage import LINKTYPE_ETHERNET
from firmware.config import Config, config_from_dict

MAC = "02:00:00:00:00:0a"
# Ethernet + IPv4 cut after 6 bytes of the IP header: a truncated frame.
TRUNCATED_IPV4 = bytes.fromhex("ffffffffffff02000000000a0800" + "450000540001")


def _udp(payload: bytes, sport: int = 9999, dport: int = 9999) -> bytes:
    return bytes(
        Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="192.168.1.10", dst="192.168.1.255")
        / UDP(sport=sport, dport=dport)
        / payload
    )


def _module(name: str, extract: object, port: int = 9999) -> types.ModuleType:
    module = types.ModuleType(name)
    module.NAME = name  # type: ignore[attr-defined]
    module.ETHERTYPES = frozenset()  # type: ignore[attr-defined]
    module.LLC = False  # type: ignore[attr-defined]
    module.UDP_PORTS = frozenset({port})  # type: ignore[attr-defined]
    module.TCP_PORTS = frozenset()  # type: ignore[attr-defined]
    module.SCAPY = False  # type: ignore[attr-defined]
    module.wants = lambda frame: False  # type: ignore[attr-defined]
    module.extract = extract  # type: ignore[attr-defined]
    return module


def _announce(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    name = frame.payload.decode()
    return [
        Observation(
            frame.at,
            frame.src_mac,
            frame.src_ip,
            frame.vlan,
            "fake",
            Role.ANNOUNCER,
            {"name": name},
        )
    ]


def _buggy(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    raise KeyError("bug")


def _malformed(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    raise DecodeError("bad_length")


def _pipeline(*modules: types.ModuleType, strict: bool = False, **kw: object) -> Pipeline:
    return Pipeline(Config(), strict=strict, extractors=modules, defaults=False, **kw)  # type: ignore[arg-type]


def test_registry_modules_follow_the_extractor_contract() -> None:
    assert EXTRACTORS, "no extractor registered"
    names = [m.NAME for m in EXTRACTORS]
    assert len(names) == len(set(names))
    for module in EXTRACTORS:
        missing = [attr for attr in CONTRACT if not hasattr(module, attr)]
        assert not missing, f"{module.__name__} lacks {missing}"
        assert isinstance(module.UDP_PORTS, frozenset) and isinstance(module.TCP_PORTS, frozenset)


def test_truncated_frame_is_counted_as_weird_and_capture_goes_on() -> None:
    pipe = _pipeline(_module("fake", _announce))
    pipe.process(TRUNCATED_IPV4, 1.0, LINKTYPE_ETHERNET)
    pipe.process(_udp(b"tv"), 2.0, LINKTYPE_ETHERNET)
    stats = pipe.snapshot()
    assert stats.weird == {"truncated_ipv4": 1}
    assert stats.packets == 2
    assert [d.mac for d in pipe.devices()] == [MAC]


def test_extractor_decode_error_counts_weird_per_module_and_reason() -> None:
    pipe = _pipeline(_module("fake", _malformed))
    pipe.process(_udp(b"x"), 1.0, LINKTYPE_ETHERNET)
    assert pipe.snapshot().weird == {"fake.bad_length": 1}
    assert pipe.snapshot().errors == {}


def test_extractor_bug_is_counted_logged_once_and_capture_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipe = _pipeline(_module("buggy", _buggy), _module("fake", _announce))
    with caplog.at_level(logging.ERROR, logger="capture.pipeline"):
        pipe.process(_udp(b"a"), 1.0, LINKTYPE_ETHERNET)
        pipe.process(_udp(b"b"), 2.0, LINKTYPE_ETHERNET)
    assert pipe.snapshot().errors == {"buggy": 2}
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert caplog.records[0].exc_info is not None  # with its traceback
    device = pipe.inventory.get(MAC)
    assert device is not None and device.facts[("fake", "name")] == ["a", "b"]


def test_extractor_bug_is_raised_under_strict() -> None:
    pipe = _pipeline(_module("buggy", _buggy), strict=True)
    with pytest.raises(KeyError):
        pipe.process(_udp(b"a"), 1.0, LINKTYPE_ETHERNET)


def test_clock_jump_is_counted_and_state_stays_ordered() -> None:
    pipe = _pipeline(_module("fake", _announce))
    pipe.process(_udp(b"a"), 1000.0, LINKTYPE_ETHERNET)
    pipe.process(_udp(b"b"), 400.0, LINKTYPE_ETHERNET)  # the clock stepped back 10 minutes
    pipe.process(_udp(b"c"), 401.0, LINKTYPE_ETHERNET)
    assert pipe.snapshot().weird == {"clock_jump": 1}
    device = pipe.inventory.get(MAC)
    assert device is not None and (device.first_seen, device.last_seen) == (400.0, 1000.0)


def test_repeated_announcement_is_deduplicated_but_refreshes_last_seen() -> None:
    calls: list[float] = []

    def counting(frame: Frame, ctx: ExtractContext) -> list[Observation]:
        calls.append(frame.at)
        return _announce(frame, ctx)

    pipe = _pipeline(_module("fake", counting))
    for at in (10.0, 20.0, 30.0):
        pipe.process(_udp(b"same"), at, LINKTYPE_ETHERNET)
    assert calls == [10.0]
    stats = pipe.snapshot()
    assert (stats.dissected, stats.deduplicated) == (1, 2)
    device = pipe.inventory.get(MAC)
    assert device is not None and device.last_seen == 30.0


class FakeRules:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {"dropped[sources]": 3, "errors[capture.rules.x]": 1}
        self.frames: list[Frame] = []
        self.new: list[str] = []
        self.observations: list[tuple[str, str | None]] = []
        self.ticks: list[float] = []

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        self.observations.append((obs.protocol, device.key if device else None))

    def on_device_new(self, device: DeviceRecord) -> None:
        self.new.append(device.key)

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    def drain(self) -> list[Finding]:
        return [Finding(FindingKind.ALERT, "port-scan", "Port scan", Severity.MEDIUM, (MAC,), 1, 2)]

    def findings(self) -> list[Finding]:
        return self.drain()


def test_count_only_path_and_new_devices_reach_the_rules() -> None:
    rules = FakeRules()
    pipe = _pipeline(_module("fake", _announce), rules=rules)
    syn = Ether(src=MAC) / IP(src="192.168.1.10", dst="192.168.1.20") / TCP(dport=22, flags="S")
    ack = Ether(src=MAC) / IP(src="192.168.1.10", dst="192.168.1.20") / TCP(dport=22, flags="A")
    pipe.process(bytes(syn), 1.0, LINKTYPE_ETHERNET)
    pipe.process(bytes(ack), 2.0, LINKTYPE_ETHERNET)
    pipe.process(_udp(b"a"), 3.0, LINKTYPE_ETHERNET)
    pipe.process(_udp(b"b"), 4.0, LINKTYPE_ETHERNET)
    pipe.finish()
    assert [f.tcp_flags for f in rules.frames] == [0x02]
    assert rules.new == [MAC]
    # The SYN: no extractor here reads it, so its sender is placed by a presence observation.
    assert rules.observations == [("ip", MAC), ("fake", MAC), ("fake", MAC)]
    assert rules.ticks == [4.0]
    stats = pipe.snapshot()
    assert (stats.counted, stats.ignored, stats.dissected) == (1, 1, 2)
    assert stats.dropped["detect.sources"] == 3
    assert stats.errors["capture.rules.x"] == 1
    assert [f.rule_id for f in pipe.drain_findings()] == ["port-scan"]


def test_drain_devices_returns_changes_once() -> None:
    pipe = _pipeline(_module("fake", _announce))
    pipe.process(_udp(b"a"), 1.0, LINKTYPE_ETHERNET)
    assert [d.key for d in pipe.drain_devices()] == [MAC]
    assert pipe.drain_devices() == []


def test_stats_json_has_the_issue_fields() -> None:
    pipe = _pipeline()
    pipe.process(TRUNCATED_IPV4, 1.0, LINKTYPE_ETHERNET)
    out = pipe.snapshot().to_json()
    for key in ("packets", "bytes", "dissected", "dropped", "weird"):
        assert key in out
    assert out["packets"] == 1 and out["bytes"] == len(TRUNCATED_IPV4)


def test_real_dhcp_request_builds_a_named_device() -> None:
    # RFC 2131 DHCPREQUEST with option 12 hostname "frontdesk-printer".
    request = (
        Ether(src="00:11:22:33:44:55", dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex("001122334455"), xid=7)
        / DHCP(options=[("message-type", "request"), ("hostname", b"frontdesk-printer"), "end"])
    )
    pipe = Pipeline(config_from_dict({}), strict=True, defaults=False)
    pipe.process(bytes(request), 1.0, LINKTYPE_ETHERNET)
    device = pipe.inventory.get("00:11:22:33:44:55")
    assert device is not None
    assert "frontdesk-printer" in device.names
    assert "dhcp" in device.protocols


def test_rules_keep_ticking_after_the_clock_steps_back() -> None:
    rules = FakeRules()
    pipe = _pipeline(_module("fake", _announce), rules=rules)
    for at in (1000.0, 1011.0, 100.0, 111.0):  # a one-hour-ish step back between 1011 and 100
        pipe.process(_udp(str(at).encode()), at, LINKTYPE_ETHERNET)
    assert rules.ticks == [1011.0, 111.0]


def test_raw_ip_capture_keys_devices_by_vlan_and_address() -> None:
    pipe = _pipeline(_module("fake", _announce))
    raw = _udp(b"cam")[14:]  # the same datagram without its Ethernet header (LINKTYPE_RAW)
    pipe.process(raw, 1.0, 101)
    (device,) = pipe.devices()
    assert (device.key, device.mac) == ("0/192.168.1.10", None)


# --- presence: a source seen only in frames no extractor reads ------------------------------


def _host_udp(src_mac: str, src_ip: str, at_port: int = 7080, ttl: int = 64) -> bytes:
    return bytes(
        Ether(src=src_mac, dst="02:00:00:00:00:0b")
        / IP(src=src_ip, dst="192.168.1.1", ttl=ttl)
        / UDP(sport=40000, dport=at_port)
        / b"opaque"
    )


def test_source_no_extractor_reads_is_still_a_device() -> None:
    pipe = _pipeline(_module("fake", _announce))  # claims only UDP 9999
    pipe.process(_host_udp(MAC, "192.168.1.37"), 10.0, LINKTYPE_ETHERNET)
    device = pipe.inventory.get(MAC)
    assert device is not None and list(device.ips) == ["192.168.1.37"]
    assert device.protocols == set()  # no protocol was identified
    stats = pipe.snapshot()
    assert (stats.presence, stats.observations, stats.dissected) == (1, 1, 0)


def test_presence_repeats_only_move_last_seen_until_the_ttl() -> None:
    config = config_from_dict({"capture": {"dedup_ttl_s": 60}})
    pipe = Pipeline(config, extractors=(), defaults=False)
    for at in (10.0, 20.0, 30.0):
        pipe.process(_host_udp(MAC, "192.168.1.37"), at, LINKTYPE_ETHERNET)
    assert pipe.snapshot().presence == 1
    device = pipe.inventory.get(MAC)
    assert device is not None and (device.first_seen, device.last_seen) == (10.0, 30.0)
    pipe.process(_host_udp(MAC, "192.168.1.37"), 75.0, LINKTYPE_ETHERNET)  # 65 s after 10 s
    assert pipe.snapshot().presence == 2


def test_presence_keeps_the_inventory_address_rules() -> None:
    """An internet address behind a MAC with a decremented TTL is a routed host, not a device."""
    pipe = _pipeline()
    router = "02:00:00:00:00:0c"
    pipe.process(_host_udp(router, "8.8.8.8", ttl=117), 1.0, LINKTYPE_ETHERNET)
    assert pipe.inventory.get(router) is None and len(pipe.inventory) == 0
    assert pipe.inventory.ignored_remote == 1


def test_dissected_frame_gives_no_presence_observation() -> None:
    pipe = _pipeline(_module("fake", _announce))
    pipe.process(_udp(b"tv"), 1.0, LINKTYPE_ETHERNET)
    stats = pipe.snapshot()
    assert (stats.presence, stats.observations) == (0, 1)


def test_presence_memory_is_bounded_and_evictions_are_counted() -> None:
    config = config_from_dict({"capture": {"flows_max": 2}})
    pipe = Pipeline(config, extractors=(), defaults=False)
    for i in range(5):
        frame = _host_udp(f"02:00:00:00:01:{i:02x}", f"192.168.1.{i + 2}")
        pipe.process(frame, 1.0 + i, LINKTYPE_ETHERNET)
    assert len(pipe.inventory) == 5  # every source became a device
    assert pipe.hosts_evicted == 3  # 5 sources, room for 2
    # Counted under the limit it shares with the triage's flow table.
    others = pipe.triage.flows_evicted + pipe.ctx.flows.evicted
    assert pipe.snapshot().dropped["capture.flows_max"] == others + 3
    # An evicted source seen again is observed again (it is not lost, only re-learned).
    pipe.process(_host_udp("02:00:00:00:01:00", "192.168.1.2"), 9.0, LINKTYPE_ETHERNET)
    assert pipe.snapshot().presence == 6


def test_udp_only_sonos_host_in_corpus_is_discovered_with_its_oui_vendor(corpus: Path) -> None:
    """nDPI/sonos.pcapng: 5c:aa:fd:02:92:1a sends only UDP to port 7080 (17 frames, tshark).

    IEEE MA-L 5CAAFD = "Sonos, Inc."; no extractor reads port 7080, so before presence
    observations this host was not in the inventory at all.
    """
    pipe = Pipeline(Config())
    for pkt in open_capture(corpus / "nDPI" / "sonos.pcapng"):
        pipe.process(pkt.data, pkt.at, pkt.linktype, pkt.vlan)
    device = pipe.inventory.get("5c:aa:fd:02:92:1a")
    assert device is not None
    assert any(ip.endswith("192.168.15.37") for ip in device.ips)
    assert device.classification["vendor"].value == "Sonos"
