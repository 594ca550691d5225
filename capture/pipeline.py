"""Pipeline: raw packet → Frame → Observations → DeviceRecords → Findings; counts weird packets.

Input: one captured packet (bytes, time, link type, VLAN) per `process()` call, from a file or
a live source alike. Output, pulled by the caller: changed DeviceRecords (`drain_devices`) and
new or updated Findings (`drain_findings`), plus `Stats`.

Per packet: the triage parses headers and decides (capture/triage.py); frames of the
count-only path go to the rules' `on_frame`; frames to dissect go to the extractor modules the
triage chose; their Observations go to the Inventory (which calls the classifier) and then to
the rules. Boundaries (STYLE.md §6): a DecodeError drops the packet and counts
weird[reason] (first traceback per reason at DEBUG); any other exception in an extractor is
logged at ERROR once per (module, type), counted in errors[module], and re-raised when
strict=True (tests).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from capture.device import DeviceRecord
from capture.errors import DecodeError
from capture.extractors import ExtractContext, FlowTable
from capture.extractors.emit import observe as observe_frame
from capture.findings import Finding
from capture.frame import Frame
from capture.inventory import PRESENCE, DeviceClassifier, Inventory
from capture.observation import Observation, Role
from capture.triage import LINKTYPE_ETHERNET, Triage, parse_frame
from firmware.config import Config

log = logging.getLogger(__name__)

# Capture-time seconds between two rules.tick() calls (window expiry, staleness).
TICK_INTERVAL_S = 10.0
_LOGGED_KEYS_MAX = 1024


class RuleSink(Protocol):
    """What the pipeline needs of capture.rules.engine.RuleEngine (see capture/rules/)."""

    counters: dict[str, int]

    def on_frame(self, frame: Frame) -> None: ...
    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None: ...
    def on_device_new(self, device: DeviceRecord) -> None: ...
    def tick(self, now: float) -> None: ...
    def drain(self) -> list[Finding]: ...
    def findings(self) -> list[Finding]: ...
    def export_state(self) -> dict[str, Any]: ...
    def import_state(self, state: Any) -> int: ...


@dataclass(slots=True)
class Stats:
    """Pipeline counters; `to_json` is the `{"record": "stats"}` line of inspect --json."""

    packets: int = 0
    bytes: int = 0
    counted: int = 0  # frames given to the rules' count-only path
    dissected: int = 0  # frames offered to at least one extractor
    scapy_dissected: int = 0  # frames an extractor dissected with scapy
    deduplicated: int = 0  # repeated payloads not dissected again
    ignored: int = 0  # frames neither counted nor dissected (bulk traffic)
    observations: int = 0
    presence: int = 0  # "ip" observations: a source seen only in frames no extractor read
    dropped: dict[str, int] = field(default_factory=dict)  # limit -> items refused
    # reason -> devices the inventory forgot: idle, randomised_idle, evicted (at devices_max)
    expired: dict[str, int] = field(default_factory=dict)
    weird: dict[str, int] = field(default_factory=dict)  # DecodeError reason -> packets
    errors: dict[str, int] = field(default_factory=dict)  # module -> exceptions caught

    def to_json(self) -> dict[str, Any]:
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "dissected": self.dissected,
            "scapy_dissected": self.scapy_dissected,
            "counted": self.counted,
            "deduplicated": self.deduplicated,
            "ignored": self.ignored,
            "observations": self.observations,
            "presence": self.presence,
            "dropped": dict(sorted(self.dropped.items())),
            "expired": dict(sorted(self.expired.items())),
            "weird": dict(sorted(self.weird.items())),
            "errors": dict(sorted(self.errors.items())),
        }


class Pipeline:
    """Turns packets into device records and findings, one `process()` call per packet.

    Args:
        config: the whole configuration (capture, inventory, classify, detect sections).
        strict: re-raise extractor, inventory and rule bugs instead of counting them (tests).
        classifier: the device classifier; None builds capture.classify.Classifier when that
            module is installed, unless `defaults` is False.
        rules: the rule engine; None builds capture.rules.engine.RuleEngine likewise.
        extractors: the extractor modules (default: capture.extractors.registry.EXTRACTORS).
        now: clock for events without a packet time; by default the time of the last packet.
        salt: salt of the hashes of secrets seen on the wire (SNMP communities).
        defaults: build the default classifier and rule engine when not given.
    """

    def __init__(
        self,
        config: Config,
        *,
        strict: bool = False,
        classifier: DeviceClassifier | None = None,
        rules: RuleSink | None = None,
        extractors: Iterable[ModuleType] | None = None,
        now: Callable[[], float] | None = None,
        salt: bytes | None = None,
        defaults: bool = True,
    ) -> None:
        self.config = config
        self.strict = strict
        self.stats = Stats()
        self.last_at: float | None = None
        self._now = now
        from capture.extractors.registry import EXTRACTORS, TCP_SEGMENTS_MAX

        cap = config.capture
        self.triage = Triage(
            EXTRACTORS if extractors is None else extractors,
            dedup_ttl_s=cap.dedup_ttl_s,
            dedup_max_entries=cap.dedup_max_entries,
            flows_max=cap.flows_max,
            tcp_segments_max=TCP_SEGMENTS_MAX,
        )
        if salt is None:
            salt = ("branchwatch:" + config.sensor.sensor_id).encode()
        self.ctx = ExtractContext(
            text_max_bytes=cap.text_max_bytes, flows=FlowTable(cap.flows_max), salt=salt
        )
        if classifier is None and defaults:
            classifier = _default_classifier(config)
        if rules is None and defaults:
            rules = _default_rules(config, self.now, strict)
        self.rules = rules
        self.inventory = Inventory(config.inventory, classifier)
        self._next_tick_at: float | None = None
        self._logged: set[tuple[str, str]] = set()
        # (source MAC, source IP, VLAN) -> when it last gave a presence observation; LRU.
        self._hosts: OrderedDict[tuple[str, str, int | None], float] = OrderedDict()
        self._hosts_max = cap.flows_max
        self._hosts_ttl = cap.dedup_ttl_s
        self.hosts_evicted = 0

    def now(self) -> float:
        """The injected clock, else the time of the last packet (wall clock before any)."""
        if self._now is not None:
            return self._now()
        return self.last_at if self.last_at is not None else time.time()

    # --- per packet ---------------------------------------------------------------------

    def process(self, data: bytes, at: float, linktype: int, vlan: int | None = None) -> None:
        """Run one captured packet through triage, extractors, inventory and rules."""
        stats = self.stats
        stats.packets += 1
        stats.bytes += len(data)
        last = self.last_at
        if last is not None and at < last:
            # Timestamps went backwards (clock step on the capturing host): count, carry on.
            stats.weird["clock_jump"] = stats.weird.get("clock_jump", 0) + 1
        self.last_at = at
        if linktype == LINKTYPE_ETHERNET and self.triage.skips(data, vlan):
            stats.ignored += 1  # bulk TCP: dropped on raw bytes, no Frame built
            if self.rules is not None:
                self._maybe_tick(at)
            return
        try:
            frame = parse_frame(data, at, linktype, vlan)
        except DecodeError as exc:
            self._weird(exc.reason, exc)
            return
        try:
            decision = self.triage.decide(frame)
        except Exception as exc:  # a bug in an extractor's wants(): count, go on
            self._error("triage", exc)
            return
        rules = self.rules
        if decision.counted:
            stats.counted += 1
            if rules is not None:
                self._guard("rules", rules.on_frame, frame)
        if decision.deduplicated:
            stats.deduplicated += 1
            self.inventory.touch(frame.src_mac, at)
        modules = decision.modules
        if modules:
            stats.dissected += 1
            self._dissect(frame, modules)
        else:
            if not decision.counted and not decision.deduplicated:
                stats.ignored += 1
            mac, ip = frame.src_mac, frame.src_ip
            if mac is not None and ip is not None:
                self._presence(frame, mac, ip)
        if rules is not None:
            self._maybe_tick(at)

    def _dissect(self, frame: Frame, modules: tuple[ModuleType, ...]) -> None:
        scapy_used = False
        for module in modules:
            try:
                observations = module.extract(frame, self.ctx)
            except DecodeError as exc:
                self._weird(f"{module.NAME}.{exc.reason}", exc)
                continue
            except Exception as exc:
                self._error(module.NAME, exc)
                continue
            scapy_used = scapy_used or module.SCAPY
            for obs in observations:
                self.observe(obs)
        if scapy_used:
            self.stats.scapy_dissected += 1

    def _presence(self, frame: Frame, mac: str, ip: str) -> None:
        """A source no extractor read (a protocol we do not dissect): still a device.

        The first such frame of each (MAC, IP, VLAN) within `dedup_ttl_s` becomes a fact-less
        "ip" observation, so the inventory applies its usual address rules (a routed or
        internet address behind a MAC is not that MAC's, capture/inventory.py) and the OUI
        vendor is looked up; repeats only move the device's last_seen. Frames the raw-bytes
        fast path skipped (bulk TCP, declined UDP flows) never get here: each flow's first
        payloads and its SYN, FIN and RST do.
        """
        key = (mac, ip, frame.vlan)
        hosts = self._hosts
        at = frame.at
        last = hosts.get(key)
        if last is not None and 0.0 <= at - last < self._hosts_ttl:
            self.inventory.touch(mac.lower(), at)
            return
        hosts[key] = at
        hosts.move_to_end(key)
        if len(hosts) > self._hosts_max:
            hosts.popitem(last=False)
            self.hosts_evicted += 1
        self.stats.presence += 1
        self.observe(observe_frame(frame, PRESENCE, Role.PEER, {}))

    def observe(self, obs: Observation) -> DeviceRecord | None:
        """Merge one observation into the inventory and show it to the rules."""
        self.stats.observations += 1
        device: DeviceRecord | None = None
        try:
            device = self.inventory.update(obs)
        except Exception as exc:
            self._error("inventory", exc)
        rules = self.rules
        if rules is not None:
            for new in self.inventory.drain_new():
                self._guard("rules", rules.on_device_new, new)
            self._guard("rules", rules.on_observation, obs, device)
        else:
            self.inventory.drain_new()
        return device

    def _maybe_tick(self, at: float) -> None:
        nxt = self._next_tick_at
        if nxt is None or at < nxt - 2 * TICK_INTERVAL_S:  # first packet, or the clock went back
            self._next_tick_at = at + TICK_INTERVAL_S
        elif at >= nxt:
            self._next_tick_at = at + TICK_INTERVAL_S
            self.tick(at)

    def tick(self, now: float | None = None) -> None:
        """Let the rules close quiet alerts and mark stale recommendations."""
        if self.rules is not None:
            self._guard("rules", self.rules.tick, self.now() if now is None else now)

    def expire(self, now: float) -> None:
        """Forget devices idle past inventory.idle_max_s (the live daemon's housekeeping; a
        capture file read by inspect keeps every device it shows)."""
        self._guard("inventory", self.inventory.expire, now)

    def finish(self) -> None:
        """End of a capture file: a last tick at the time of the last packet."""
        if self.last_at is not None:
            self.tick(self.last_at)

    # --- boundaries ---------------------------------------------------------------------

    def _weird(self, reason: str, exc: DecodeError) -> None:
        weird = self.stats.weird
        weird[reason] = weird.get(reason, 0) + 1
        key = ("weird", reason)
        if key not in self._logged and len(self._logged) < _LOGGED_KEYS_MAX:
            self._logged.add(key)
            log.debug("malformed packet (%s)", reason, exc_info=exc)

    def _error(self, module: str, exc: Exception) -> None:
        if self.strict:
            raise exc
        errors = self.stats.errors
        errors[module] = errors.get(module, 0) + 1
        key = (module, type(exc).__name__)
        if key not in self._logged and len(self._logged) < _LOGGED_KEYS_MAX:
            self._logged.add(key)
            log.error("%s failed on a packet; capture goes on", module, exc_info=exc)

    def _guard(self, module: str, method: Callable[..., object], *args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:
            self._error(module, exc)

    # --- outputs ------------------------------------------------------------------------

    def drain_findings(self) -> list[Finding]:
        """Findings new or updated since the last call (for the uplink buffer)."""
        if self.rules is None:
            return []
        try:
            return self.rules.drain()
        except Exception as exc:
            self._error("rules", exc)
            return []

    def findings(self) -> list[Finding]:
        """The current state of every finding, in a deterministic order."""
        if self.rules is None:
            return []
        return sorted(self.rules.findings(), key=lambda f: (f.first_seen, f.rule_id, f.dedup_key))

    def drain_devices(self) -> list[DeviceRecord]:
        """Devices created or changed since the last call (for the uplink buffer)."""
        return self.inventory.drain_changed()

    def drain_merged(self) -> list[tuple[str, str]]:
        """(address key "vlan/ip", MAC) pairs merged since the last call: the old key is gone."""
        return self.inventory.drain_merged()

    def devices(self) -> list[DeviceRecord]:
        return self.inventory.devices()

    def snapshot(self) -> Stats:
        """The counters, with every component's dropped[limit] merged in."""
        stats = self.stats
        dropped = dict(stats.dropped)
        for name, value in self.inventory.dropped.items():
            dropped[f"inventory.{name}"] = value
        triage = self.triage
        for name, value in (
            ("capture.dedup_max_entries", triage.dedup_evicted),
            (
                "capture.flows_max",
                triage.flows_evicted + self.ctx.flows.evicted + self.hosts_evicted,
            ),
        ):
            if value:
                dropped[name] = value
        errors = dict(stats.errors)
        if self.rules is not None:
            for name, value in self.rules.counters.items():
                inner = name.partition("[")[2].rstrip("]") or name
                if not value:
                    continue
                if name.startswith("errors["):
                    errors[inner] = errors.get(inner, 0) + value
                else:
                    dropped[f"detect.{inner}"] = value
        return Stats(
            packets=stats.packets,
            bytes=stats.bytes,
            counted=stats.counted,
            dissected=stats.dissected,
            scapy_dissected=stats.scapy_dissected,
            deduplicated=stats.deduplicated,
            ignored=stats.ignored,
            observations=stats.observations,
            presence=stats.presence,
            dropped=dropped,
            expired=dict(self.inventory.expired),
            weird=dict(stats.weird),
            errors=errors,
        )


def _default_classifier(config: Config) -> DeviceClassifier | None:
    try:
        module = importlib.import_module("capture.classify")
    except ModuleNotFoundError as exc:
        if exc.name != "capture.classify":
            raise
        return None
    classifier: DeviceClassifier = module.Classifier(config.classify)
    return classifier


def _default_rules(config: Config, now: Callable[[], float], strict: bool) -> RuleSink | None:
    try:
        module = importlib.import_module("capture.rules.engine")
        rules: RuleSink = module.RuleEngine(config.detect, now, strict=strict)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("capture.rules"):
            raise
        log.error("rule engine unavailable (%s): no findings", exc.name)
        return None
    return rules
