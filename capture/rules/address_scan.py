"""address-scan, address-scan-slow: one source probes many hosts.

Input: TCP and UDP probes of the count-only path (replies are never probes). Output: the alert
"Address scan" (ATT&CK T1595.001 Scanning IP Blocks) when one source has probed
detect.address_scan_hosts distinct hosts within detect.address_scan_window_s, and "Slow
address scan" for detect.slow_scan_hosts within detect.slow_scan_window_s (raised only when
the fast variant has not fired for that source within the slow window). A host that accepts a
connection (SYN-ACK) or answers in UDP is removed: a client talking to many servers is not
scanning. ICMP echo sweeps are the icmp-sweep rule's.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.findings import Severity
from capture.rules.engine import Packet, ProbeKind, Rule, RuleEngine, flow_of
from capture.rules.port_scan import ALERTS_TRACKED_MAX
from capture.rules.store import AlertSpec, FindingStore
from capture.rules.windows import DistinctWindow, SourceTable, Tallies
from firmware.config import DetectConfig

SPEC = AlertSpec(
    rule_id="address-scan",
    title="Address scan",
    severity=Severity.MEDIUM,
    attack_technique="T1595.001",
)
SLOW_SPEC = AlertSpec(
    rule_id="address-scan-slow",
    title="Slow address scan",
    severity=Severity.LOW,
    attack_technique="T1595.001",
)
_HOSTS_SHOWN = 15


@dataclass(slots=True)
class _Source:
    fast: DistinctWindow
    slow: DistinctWindow
    fast_alert_at: float | None = None


class AddressScan(Rule):
    frame_kinds = frozenset(("ip",))

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        self._sources: SourceTable[tuple[int | None, str], _Source] = SourceTable(
            config.sources_tracked_max
        )
        self._fast: Tallies[tuple[int | None, str]] = Tallies(ALERTS_TRACKED_MAX, 4096)
        self._slow: Tallies[tuple[int | None, str]] = Tallies(ALERTS_TRACKED_MAX, 4096)

    def on_frame(self, packet: Packet) -> None:
        frame = packet.frame
        src, dst = frame.src_ip, frame.dst_ip
        if src is None or dst is None:
            return
        if packet.answer:
            state = self._sources.peek((frame.vlan, dst))
            if state is not None:
                state.fast.discard(src)
                state.slow.discard(src)
            return
        if packet.probe is None or packet.probe == ProbeKind.ICMP_ECHO or packet.allowlisted:
            return
        cfg = self.config
        state = self._sources.setdefault((frame.vlan, src), self._new_source)
        at = frame.at
        is_new = state.fast.add(dst, at)
        state.slow.add(dst, at)
        if not is_new:
            return
        key = (frame.vlan, src)
        if len(state.fast) >= cfg.address_scan_hosts:
            count = self._fast.update(key, dst, state.fast)
            state.fast_alert_at = at
            self._raise(
                SPEC, packet, state.fast, cfg.address_scan_hosts, cfg.address_scan_window_s, count
            )
            return
        self._fast.end(key)
        recent_fast = (
            state.fast_alert_at is not None and at - state.fast_alert_at <= cfg.slow_scan_window_s
        )
        if len(state.slow) >= cfg.slow_scan_hosts and not recent_fast:
            count = self._slow.update(key, dst, state.slow)
            self._raise(
                SLOW_SPEC, packet, state.slow, cfg.slow_scan_hosts, cfg.slow_scan_window_s, count
            )
        else:
            self._slow.end(key)

    def _new_source(self) -> _Source:
        cfg = self.config
        return _Source(
            fast=DistinctWindow(cfg.address_scan_window_s, 2 * cfg.address_scan_hosts),
            slow=DistinctWindow(cfg.slow_scan_window_s, 2 * cfg.slow_scan_hosts),
        )

    def _raise(
        self,
        spec: AlertSpec,
        packet: Packet,
        window: DistinctWindow,
        threshold: int,
        window_s: float,
        count: int,
    ) -> None:
        frame = packet.frame

        def evidence() -> dict[str, object]:
            flow = str(flow_of(frame))
            hosts = [str(h) for h in window.targets()]
            return {
                "source_ip": frame.src_ip,
                "source_mac": frame.src_mac,
                "distinct_hosts_in_window": len(hosts),
                "hosts": hosts[-_HOSTS_SHOWN:],
                "probe": packet.probe,
                "threshold": threshold,
                "window_s": window_s,
                "first_flow": flow,
                "first_at": frame.at,
                "last_flow": flow,
                "last_at": frame.at,
            }

        source = packet.src_key or str(frame.src_ip)
        target = packet.dst_key
        targets = [target] if target is not None and count else []
        self.store.alert(
            spec, source, targets, frame.at, evidence, count=count, started_at=window.oldest_at
        )

    def tick(self, now: float) -> None:
        window_s = self.config.slow_scan_window_s
        self._sources.prune(lambda s: (s.slow.newest_at or 0.0) < now - window_s, budget=1024)

    def limits(self) -> dict[str, int]:
        return {
            "address_scan_sources": self._sources.dropped,
            "address_scan_alerts": self._fast.dropped + self._slow.dropped,
        }


RULES = (AddressScan,)
