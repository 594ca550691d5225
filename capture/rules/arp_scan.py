"""arp-scan: one MAC asks ARP for many addresses that do not answer.

Input: ARP messages of the count-only path (RFC 826). Output: the alert "ARP scan" (ATT&CK
T1018 Remote System Discovery) when one sender has asked for detect.arp_scan_addresses
distinct addresses within detect.arp_scan_window_s. An address that answers the asker is
removed: a router resolving its live neighbours is not scanning; a sweep of a subnet asks
mostly for addresses nobody holds. Announcements (gratuitous ARP) are not questions.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.findings import Severity
from capture.rules.engine import Packet, Rule, RuleEngine
from capture.rules.port_scan import ALERTS_TRACKED_MAX
from capture.rules.store import AlertSpec, FindingStore
from capture.rules.windows import DistinctWindow, SourceTable, Tallies
from firmware.config import DetectConfig

SPEC = AlertSpec(
    rule_id="arp-scan",
    title="ARP scan",
    severity=Severity.MEDIUM,
    attack_technique="T1018",
)
ARP_REQUEST = 1
ARP_REPLY = 2
_ADDRESSES_SHOWN = 15


@dataclass(slots=True)
class _Asker:
    asked: DistinctWindow
    requests: int = 0


class ArpScan(Rule):
    frame_kinds = frozenset(("arp",))

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        self._askers: SourceTable[tuple[int | None, str], _Asker] = SourceTable(
            config.sources_tracked_max
        )
        self._tallies: Tallies[tuple[int | None, str]] = Tallies(ALERTS_TRACKED_MAX, 4096)

    def on_frame(self, packet: Packet) -> None:
        arp = packet.arp
        if arp is None or arp.is_gratuitous:
            return
        frame = packet.frame
        if arp.op == ARP_REPLY:
            asker = self._askers.peek((frame.vlan, arp.target_mac))
            if asker is not None:
                asker.asked.discard(arp.sender_ip)
            return
        if arp.op != ARP_REQUEST:
            return
        if packet.allowlisted or self.engine.allowlist.contains(arp.sender_mac, arp.sender_ip):
            return
        cfg = self.config
        asker = self._askers.setdefault(
            (frame.vlan, arp.sender_mac),
            lambda: _Asker(DistinctWindow(cfg.arp_scan_window_s, 2 * cfg.arp_scan_addresses)),
        )
        asker.requests += 1
        if not asker.asked.add(arp.target_ip, frame.at):
            return
        distinct = len(asker.asked)
        key = (frame.vlan, arp.sender_mac)
        if distinct < cfg.arp_scan_addresses:
            self._tallies.end(key)
            return
        count = self._tallies.update(key, arp.target_ip, asker.asked)

        def evidence() -> dict[str, object]:
            asked = [str(a) for a in asker.asked.targets()]
            return {
                "source_mac": arp.sender_mac,
                "source_ip": arp.sender_ip,
                "distinct_addresses_in_window": distinct,
                "addresses": asked[-_ADDRESSES_SHOWN:],
                "requests": asker.requests,
                "threshold": cfg.arp_scan_addresses,
                "window_s": cfg.arp_scan_window_s,
                "first_flow": f"arp {arp.sender_ip} -> {arp.target_ip}",
                "first_at": frame.at,
                "last_flow": f"arp {arp.sender_ip} -> {arp.target_ip}",
                "last_at": frame.at,
            }

        self.store.alert(
            SPEC,
            arp.sender_mac,
            [],
            frame.at,
            evidence,
            count=count,
            started_at=asker.asked.oldest_at,
        )

    def tick(self, now: float) -> None:
        window_s = self.config.arp_scan_window_s
        self._askers.prune(lambda a: (a.asked.newest_at or 0.0) < now - window_s, budget=1024)

    def limits(self) -> dict[str, int]:
        return {"arp_scan_sources": self._askers.dropped, "arp_scan_alerts": self._tallies.dropped}


RULES = (ArpScan,)
