"""icmp-sweep: one source sends ICMP echo requests to many hosts (ping sweep).

Input: ICMP/ICMPv6 echo requests of the count-only path (RFC 792 type 8, RFC 4443 type 128).
Output: the alert "ICMP echo sweep" (ATT&CK T1018 Remote System Discovery) when one source
has pinged detect.icmp_sweep_hosts distinct hosts within detect.icmp_sweep_window_s. Echo
replies do not remove a host: a sweep that finds live hosts is still a sweep (monitoring
systems that ping many hosts belong on detect.scanner_allowlist).
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
    rule_id="icmp-sweep",
    title="ICMP echo sweep",
    severity=Severity.MEDIUM,
    attack_technique="T1018",
)
_HOSTS_SHOWN = 15


@dataclass(slots=True)
class _Source:
    hosts: DistinctWindow
    probes: int = 0


class IcmpSweep(Rule):
    frame_kinds = frozenset(("ip",))

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        self._sources: SourceTable[tuple[int | None, str], _Source] = SourceTable(
            config.sources_tracked_max
        )
        self._tallies: Tallies[tuple[int | None, str]] = Tallies(ALERTS_TRACKED_MAX, 4096)

    def on_frame(self, packet: Packet) -> None:
        frame = packet.frame
        if packet.probe != ProbeKind.ICMP_ECHO or packet.allowlisted:
            return
        src, dst = frame.src_ip, frame.dst_ip
        if src is None or dst is None:
            return
        cfg = self.config
        state = self._sources.setdefault(
            (frame.vlan, src),
            lambda: _Source(DistinctWindow(cfg.icmp_sweep_window_s, 2 * cfg.icmp_sweep_hosts)),
        )
        state.probes += 1
        if not state.hosts.add(dst, frame.at):
            return
        distinct = len(state.hosts)
        if distinct < cfg.icmp_sweep_hosts:
            self._tallies.end((frame.vlan, src))
            return
        count = self._tallies.update((frame.vlan, src), dst, state.hosts)

        def evidence() -> dict[str, object]:
            flow = str(flow_of(frame))
            hosts = [str(h) for h in state.hosts.targets()]
            return {
                "source_ip": src,
                "source_mac": frame.src_mac,
                "distinct_hosts_in_window": distinct,
                "hosts": hosts[-_HOSTS_SHOWN:],
                "echo_requests": state.probes,
                "threshold": cfg.icmp_sweep_hosts,
                "window_s": cfg.icmp_sweep_window_s,
                "first_flow": flow,
                "first_at": frame.at,
                "last_flow": flow,
                "last_at": frame.at,
            }

        target = packet.dst_key
        targets = [target] if target is not None and count else []
        self.store.alert(
            SPEC,
            packet.src_key or src,
            targets,
            frame.at,
            evidence,
            count=count,
            started_at=state.hosts.oldest_at,
        )

    def tick(self, now: float) -> None:
        window_s = self.config.icmp_sweep_window_s
        self._sources.prune(lambda s: (s.hosts.newest_at or 0.0) < now - window_s, budget=1024)

    def limits(self) -> dict[str, int]:
        return {
            "icmp_sweep_sources": self._sources.dropped,
            "icmp_sweep_alerts": self._tallies.dropped,
        }


RULES = (IcmpSweep,)
