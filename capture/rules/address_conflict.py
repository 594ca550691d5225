"""address-conflict, arp-spoofing, gratuitous-arp-storm: who claims an IP address in ARP.

Input: ARP messages of the count-only path (RFC 826); a message claims its sender IP for its
sender MAC. Output, all ATT&CK T1557.002 (ARP Cache Poisoning):
- "IP address claimed by two MACs" (address-conflict): a second MAC claims an IP another MAC
  claimed within detect.address_conflict_window_s.
- "ARP spoofing" (arp-spoofing): a MAC sends an unsolicited ARP reply (no request for that
  address from the reply's target was seen) claiming one IP while it also claims another: the
  pattern of a poisoner that answers for the gateway and asks for itself.
- "Gratuitous ARP storm" (gratuitous-arp-storm): one MAC sends detect.gratuitous_arp_max
  gratuitous ARPs within detect.gratuitous_arp_window_s.
First-hop redundancy virtual MACs move between routers by design and are exempt: VRRP
00:00:5e:00:01:xx and 00:00:5e:00:02:xx (RFC 5798 §7.3), HSRP v1 00:00:0c:07:ac:xx and
HSRP v2 00:00:0c:9f:f0:00-00:00:0c:9f:ff:ff (Cisco).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capture.findings import Severity
from capture.rules.engine import Arp, Packet, Rule, RuleEngine
from capture.rules.store import AlertSpec, FindingStore
from capture.rules.windows import FailureWindow, SourceTable
from firmware.config import DetectConfig

CONFLICT_SPEC = AlertSpec(
    rule_id="address-conflict",
    title="IP address claimed by two MACs",
    severity=Severity.HIGH,
    attack_technique="T1557.002",
)
SPOOF_SPEC = AlertSpec(
    rule_id="arp-spoofing",
    title="ARP spoofing",
    severity=Severity.HIGH,
    attack_technique="T1557.002",
)
STORM_SPEC = AlertSpec(
    rule_id="gratuitous-arp-storm",
    title="Gratuitous ARP storm",
    severity=Severity.MEDIUM,
    attack_technique="T1557.002",
)
ARP_REQUEST = 1
ARP_REPLY = 2
UNSPECIFIED = "0.0.0.0"
# A reply is solicited when the request it answers came at most this long before it.
SOLICIT_WINDOW_S = 10.0
_IPS_PER_MAC_MAX = 8


def is_virtual_router_mac(mac: str) -> bool:
    """VRRP (RFC 5798 §7.3) or HSRP v1/v2 virtual MAC."""
    return mac.startswith(
        ("00:00:5e:00:01:", "00:00:5e:00:02:", "00:00:0c:07:ac:")
    ) or mac.startswith("00:00:0c:9f:f")


@dataclass(slots=True)
class _Claim:
    mac: str
    at: float


@dataclass(slots=True)
class _Claimer:
    ips: dict[str, float] = field(default_factory=dict)  # ip -> last claimed at
    unsolicited: dict[str, float] = field(default_factory=dict)  # ip -> at, unsolicited replies
    gratuitous: FailureWindow | None = None


class AddressConflict(Rule):
    frame_kinds = frozenset(("arp",))

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        size = config.sources_tracked_max
        self._claims: SourceTable[tuple[int | None, str], _Claim] = SourceTable(size)
        self._claimers: SourceTable[tuple[int | None, str], _Claimer] = SourceTable(size)
        # (vlan, asker ip, asked ip) -> time of the request
        self._requests: SourceTable[tuple[int | None, str, str], float] = SourceTable(size)

    def on_frame(self, packet: Packet) -> None:
        arp = packet.arp
        if arp is None or arp.sender_ip == UNSPECIFIED or is_virtual_router_mac(arp.sender_mac):
            return
        at, vlan = packet.frame.at, packet.frame.vlan
        claimer = self._claimers.setdefault((vlan, arp.sender_mac), _Claimer)
        if arp.is_gratuitous:
            self._gratuitous(arp, claimer, at)
        elif arp.op == ARP_REQUEST:
            self._requests.pop((vlan, arp.sender_ip, arp.target_ip))
            self._requests.setdefault((vlan, arp.sender_ip, arp.target_ip), lambda: at)
        elif arp.op == ARP_REPLY:
            asked_at = self._requests.peek((vlan, arp.target_ip, arp.sender_ip))
            unsolicited = asked_at is None or at - asked_at > SOLICIT_WINDOW_S
            known = arp.sender_ip in claimer.unsolicited
            if unsolicited and (known or len(claimer.unsolicited) < _IPS_PER_MAC_MAX):
                claimer.unsolicited[arp.sender_ip] = at
        self._conflict(arp, vlan, at)
        if arp.sender_ip in claimer.ips or len(claimer.ips) < _IPS_PER_MAC_MAX:
            claimer.ips[arp.sender_ip] = at
        self._spoofing(arp, claimer, at)

    def _conflict(self, arp: Arp, vlan: int | None, at: float) -> None:
        key = (vlan, arp.sender_ip)
        claim = self._claims.get(key)
        if claim is None:
            self._claims.setdefault(key, lambda: _Claim(arp.sender_mac, at))
            return
        if claim.mac != arp.sender_mac and at - claim.at <= self.config.address_conflict_window_s:
            evidence = {
                "ip": arp.sender_ip,
                "macs": [claim.mac, arp.sender_mac],
                "previous_claim_at": claim.at,
                "first_flow": _flow(arp),
                "first_at": at,
                "last_flow": _flow(arp),
                "last_at": at,
            }
            self.store.alert(
                CONFLICT_SPEC, arp.sender_mac, [claim.mac], at, evidence, scope=arp.sender_ip
            )
        claim.mac, claim.at = arp.sender_mac, at

    def _spoofing(self, arp: Arp, claimer: _Claimer, at: float) -> None:
        window_s = self.config.address_conflict_window_s
        recent = {ip for ip, t in claimer.ips.items() if at - t <= window_s}
        spoofed = [ip for ip, t in claimer.unsolicited.items() if at - t <= window_s]
        if len(recent) < 2 or not spoofed:
            return
        evidence = {
            "mac": arp.sender_mac,
            "claimed_ips": sorted(recent),
            "unsolicited_reply_ips": sorted(spoofed),
            "first_flow": _flow(arp),
            "first_at": at,
            "last_flow": _flow(arp),
            "last_at": at,
        }
        self.store.alert(SPOOF_SPEC, arp.sender_mac, [], at, evidence)

    def _gratuitous(self, arp: Arp, claimer: _Claimer, at: float) -> None:
        cfg = self.config
        if claimer.gratuitous is None:
            claimer.gratuitous = FailureWindow(cfg.gratuitous_arp_max, cfg.gratuitous_arp_window_s)
        if not claimer.gratuitous.add(at):
            return
        evidence = {
            "mac": arp.sender_mac,
            "ip": arp.sender_ip,
            "threshold": cfg.gratuitous_arp_max,
            "window_s": cfg.gratuitous_arp_window_s,
            "first_flow": _flow(arp),
            "first_at": at,
            "last_flow": _flow(arp),
            "last_at": at,
        }
        self.store.alert(STORM_SPEC, arp.sender_mac, [], at, evidence)

    def limits(self) -> dict[str, int]:
        return {
            "arp_claims": self._claims.dropped + self._claimers.dropped,
            "arp_requests": self._requests.dropped,
        }


def _flow(arp: Arp) -> str:
    op = "reply" if arp.op == ARP_REPLY else "request"
    return f"arp {op} {arp.sender_ip} is-at {arp.sender_mac} -> {arp.target_ip}"


RULES = (AddressConflict,)
