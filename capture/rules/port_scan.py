"""port-scan: one source probes many ports of one host within a window.

Input: frames of the count-only path, classified by the engine (SYN, FIN, NULL, Xmas and other
flagless TCP probes, UDP probes; replies are never probes). Output: the alert "Port scan"
(ATT&CK T1046 Network Service Discovery) when one source has probed detect.port_scan_ports
distinct ports of one host within detect.port_scan_window_s. A port that accepts the
connection (SYN-ACK) or answers in UDP is removed again: connecting to a service is not
scanning it, while closed ports (RST, ICMP unreachable) and silent ones stay counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capture.findings import Severity
from capture.frame import IPPROTO_UDP
from capture.rules.engine import Packet, ProbeKind, Rule, RuleEngine, flow_of
from capture.rules.store import AlertSpec, FindingStore
from capture.rules.windows import DistinctWindow, SourceTable, Tallies
from firmware.config import DetectConfig

SPEC = AlertSpec(
    rule_id="port-scan",
    title="Port scan",
    severity=Severity.MEDIUM,
    attack_technique="T1046",
)
_UDP_OFFSET = 65_536  # UDP port p is target p + 65536, TCP port p is p
_PORTS_SHOWN = 32
# Open alerts whose distinct targets are tallied exactly (LRU beyond it, counted).
ALERTS_TRACKED_MAX = 64


def port_name(target: int) -> str:
    return f"udp/{target - _UDP_OFFSET}" if target >= _UDP_OFFSET else f"tcp/{target}"


@dataclass(slots=True)
class _Pair:
    ports: DistinctWindow
    kinds: dict[str, int] = field(default_factory=dict)


class PortScan(Rule):
    frame_kinds = frozenset(("ip",))

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        # (vlan, source ip, target ip) -> distinct ports probed in the window.
        self._pairs: SourceTable[tuple[int | None, str, str], _Pair] = SourceTable(
            config.sources_tracked_max
        )
        self._tallies: Tallies[tuple[int | None, str, str]] = Tallies(ALERTS_TRACKED_MAX, 4096)

    def on_frame(self, packet: Packet) -> None:
        frame = packet.frame
        src, dst = frame.src_ip, frame.dst_ip
        if src is None or dst is None or frame.src_port is None or frame.dst_port is None:
            return
        if packet.answer:
            pair = self._pairs.peek((frame.vlan, dst, src))
            if pair is not None:
                pair.ports.discard(_target(frame.ip_proto, frame.src_port))
            return
        probe = packet.probe
        if probe is None or probe == ProbeKind.ICMP_ECHO or packet.allowlisted:
            return
        threshold = self.config.port_scan_ports
        pair = self._pairs.setdefault(
            (frame.vlan, src, dst),
            lambda: _Pair(DistinctWindow(self.config.port_scan_window_s, 2 * threshold)),
        )
        pair.kinds[probe] = pair.kinds.get(probe, 0) + 1
        target = _target(frame.ip_proto, frame.dst_port)
        if not pair.ports.add(target, frame.at):
            return
        key = (frame.vlan, src, dst)
        distinct = len(pair.ports)
        if distinct < threshold:
            self._tallies.end(key)
            return
        count = self._tallies.update(key, target, pair.ports)
        at = frame.at

        def evidence() -> dict[str, object]:
            flow = str(flow_of(frame))
            ports = [t for t in pair.ports.targets()[:_PORTS_SHOWN] if isinstance(t, int)]
            return {
                "source_ip": src,
                "source_mac": frame.src_mac,
                "target_ip": dst,
                "distinct_ports_in_window": len(pair.ports),
                "ports": [port_name(t) for t in sorted(ports)],
                "probe_kinds": dict(pair.kinds),
                "threshold": threshold,
                "window_s": self.config.port_scan_window_s,
                "first_flow": flow,
                "first_at": at,
                "last_flow": flow,
                "last_at": at,
            }

        source = packet.src_key or src
        targets = [packet.dst_key] if packet.dst_key is not None else []
        self.store.alert(
            SPEC, source, targets, frame.at, evidence, count=count, started_at=pair.ports.oldest_at
        )

    def tick(self, now: float) -> None:
        window_s = self.config.port_scan_window_s
        self._pairs.prune(lambda pair: (pair.ports.newest_at or 0.0) < now - window_s, budget=1024)

    def limits(self) -> dict[str, int]:
        return {"port_scan_pairs": self._pairs.dropped, "port_scan_alerts": self._tallies.dropped}


def _target(proto: int | None, port: int) -> int:
    return port + _UDP_OFFSET if proto == IPPROTO_UDP else port


RULES = (PortScan,)
