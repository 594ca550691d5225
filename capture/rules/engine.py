"""RuleEngine: frames and observations in, Findings (recommendations and alerts) out.

Input: Frames on the triage's count-only path (no scapy), Observations with the DeviceRecord
they were merged into, new-device events and clock ticks. Output: Findings, drained as they
change. The rule modules (listed in RULE_MODULES, each exporting RULES) hold the detection
logic; this module owns what they share: the finding store (repeat merging, status, staleness,
bounds), the probe classification of a frame, device keys and the scanner allow-list.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from capture.device import DeviceRecord
from capture.findings import Finding
from capture.frame import (
    ETH_P_ARP,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    TCP_URG,
    Frame,
)
from capture.observation import Flow, Observation
from capture.rules.store import FindingStore
from capture.rules.windows import SourceTable
from firmware.config import DetectConfig

log = logging.getLogger(__name__)

# Dispatch order does not matter: rules share no state except through the store.
RULE_MODULES = (
    "telnet_exposed",
    "telnet_no_auth",
    "snmp_legacy",
    "vnc_no_auth",
    "port_scan",
    "address_scan",
    "arp_scan",
    "icmp_sweep",
    "password_guessing",
    "new_device",
    "address_conflict",
)

# UDP source ports whose packets are answers of a service, never probes (replies are never
# probes: a DNS server answering many client ports is not scanning them). RFC 1035 DNS 53,
# RFC 2131 DHCP server 67, TFTP 69, NTP 123, NetBIOS 137/138, SNMP 161/162, LDAP 389,
# QUIC 443, IKE 500/4500, RIP 520, SSDP 1900, STUN 3478, WS-Discovery 3702, mDNS 5353,
# LLMNR 5355.
UDP_SERVICE_PORTS = frozenset(
    (53, 67, 69, 123, 137, 138, 161, 162, 389, 443, 500, 520, 1900, 3478, 3702, 4500, 5353, 5355)
)
_EPHEMERAL_MIN = 1024
_GATEWAYS_MAX = 256


class ProbeKind:
    """What kind of probe a frame is (names used in evidence and documentation)."""

    SYN = "syn"  # SYN without ACK: half-open and connect() scans, and real connections
    FIN = "fin"
    NULL = "null"
    XMAS = "xmas"  # FIN+PSH+URG
    TCP_OTHER = "tcp_other"  # PSH or URG without ACK/SYN/FIN: no legitimate use
    UDP = "udp"
    ICMP_ECHO = "icmp_echo"


def probe_kind(frame: Frame) -> str | None:
    """The probe kind of a frame, or None when it is not a probe (replies never are).

    TCP: anything with ACK or RST is part of or an answer to a connection (SYN-ACK, RST-ACK,
    bare ACK). UDP: packets from a service port (UDP_SERVICE_PORTS) or from a well-known port to
    an ephemeral one are answers. Multicast and broadcast destinations are not probes of a host.
    """
    proto = frame.ip_proto
    if proto is None or frame.dst_ip is None or is_group_address(frame.dst_ip):
        return None
    if proto == IPPROTO_TCP:
        flags = frame.tcp_flags
        if flags is None or flags & (TCP_ACK | TCP_RST):
            return None
        if flags & TCP_SYN:
            return ProbeKind.SYN
        if flags == 0:
            return ProbeKind.NULL
        if flags & (TCP_FIN | TCP_PSH | TCP_URG) == TCP_FIN | TCP_PSH | TCP_URG:
            return ProbeKind.XMAS
        if flags & TCP_FIN:
            return ProbeKind.FIN
        return ProbeKind.TCP_OTHER
    if proto == IPPROTO_UDP:
        sport, dport = frame.src_port, frame.dst_port
        if sport is None or dport is None or is_udp_answer(sport, dport):
            return None
        return ProbeKind.UDP
    if proto == IPPROTO_ICMP and frame.icmp_type == 8 and frame.ip_version == 4:
        return ProbeKind.ICMP_ECHO  # RFC 792 echo request
    if proto == IPPROTO_ICMPV6 and frame.icmp_type == 128:
        return ProbeKind.ICMP_ECHO  # RFC 4443 echo request
    return None


def is_udp_answer(sport: int, dport: int) -> bool:
    """True for a UDP packet from a service: sent from a service port, or well-known → ephemeral."""
    return sport in UDP_SERVICE_PORTS or (sport < _EPHEMERAL_MIN <= dport)


def is_answer(frame: Frame) -> bool:
    """True for a frame that shows a probed target answered as a service would.

    A SYN-ACK (the port accepted a connection) or a UDP answer. An RST or an ICMP unreachable
    is not counted as an answer: it is what a scan of closed ports produces.
    """
    if frame.ip_proto == IPPROTO_TCP:
        flags = frame.tcp_flags or 0
        return flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN | TCP_ACK
    if frame.ip_proto == IPPROTO_UDP:
        sport, dport = frame.src_port, frame.dst_port
        return sport is not None and dport is not None and is_udp_answer(sport, dport)
    return False


def is_group_address(ip: str) -> bool:
    """Multicast or limited broadcast (IPv4 224/4, 255.255.255.255; IPv6 ff00::/8)."""
    if ":" in ip:
        return ip[:2].lower() == "ff"
    first = ip.split(".", 1)[0]
    return ip == "255.255.255.255" or (first.isdigit() and 224 <= int(first) <= 239)


def is_private_address(ip: str) -> bool:
    """RFC 1918, link-local and loopback IPv4; ULA, link-local and loopback IPv6 (cheap test)."""
    if ":" in ip:
        head = ip[:4].lower()
        return head.startswith(("fc", "fd", "fe8", "fe9", "fea", "feb")) or ip == "::1"
    if ip.startswith(("10.", "192.168.", "169.254.", "127.")):
        return True
    if ip.startswith("172."):
        second = ip[4:].split(".", 1)[0]
        return second.isdigit() and 16 <= int(second) <= 31
    return False


def remote_key(vlan: int | None, ip: str) -> str:
    """The device key of a device known only by address: "vlan/ip" (0 when untagged)."""
    return f"{vlan or 0}/{ip}"


def flow_of(frame: Frame) -> Flow:
    """The 5-tuple of a frame, as evidence."""
    names = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_ICMP: "icmp", IPPROTO_ICMPV6: "icmpv6"}
    proto = names.get(frame.ip_proto or -1, "ip" if frame.ip_version else "arp")
    return Flow(proto, frame.src_ip, frame.src_port, frame.dst_ip, frame.dst_port)


@dataclass(frozen=True, slots=True)
class Arp:
    """An Ethernet/IPv4 ARP message (RFC 826): operation, sender and target addresses."""

    op: int  # 1 request, 2 reply
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str

    @property
    def is_gratuitous(self) -> bool:
        """RFC 5227 §3: an announcement names the sender's own address as the target."""
        return self.sender_ip == self.target_ip and self.sender_ip != "0.0.0.0"


def parse_arp(frame: Frame) -> Arp | None:
    """The ARP message of a frame, or None (not ARP, not Ethernet/IPv4, or truncated)."""
    if frame.ethertype != ETH_P_ARP:
        return None
    data = frame.data
    off = frame.l3_offset
    if len(data) < off + 28:
        return None
    # RFC 826: htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
    if data[off : off + 6] != b"\x00\x01\x08\x00\x06\x04":
        return None
    op = int.from_bytes(data[off + 6 : off + 8], "big")
    if op not in (1, 2):
        return None
    return Arp(
        op=op,
        sender_mac=data[off + 8 : off + 14].hex(":"),
        sender_ip=".".join(str(b) for b in data[off + 14 : off + 18]),
        target_mac=data[off + 18 : off + 24].hex(":"),
        target_ip=".".join(str(b) for b in data[off + 24 : off + 28]),
    )


@dataclass(slots=True)
class Packet:
    """One frame as the frame rules see it: classified once by the engine."""

    frame: Frame
    probe: str | None  # ProbeKind when the frame is a probe
    answer: bool  # the frame answers a probe (SYN-ACK, UDP answer)
    allowlisted: bool  # the source is in detect.scanner_allowlist
    engine: RuleEngine
    arp: Arp | None = None

    @property
    def src_key(self) -> str | None:
        """Device key of the sender (None when it has no address); computed when asked."""
        frame = self.frame
        return self.engine.frame_key(frame.src_mac, frame.src_ip, frame.vlan)

    @property
    def dst_key(self) -> str | None:
        frame = self.frame
        return self.engine.frame_key(frame.dst_mac, frame.dst_ip, frame.vlan)


class Rule:
    """Base of every rule: hooks default to doing nothing.

    A rule is built with the detect config and the shared store; it keeps its own bounded
    state and reports evictions through limits().
    """

    frame_kinds: frozenset[str] = frozenset()  # "ip", "arp": the frames on_frame is given
    wants_observations = False

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        self.config = config
        self.store = store
        self.engine = engine

    def on_frame(self, packet: Packet) -> None:
        """One frame of the count-only path (already classified)."""

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        """One observation, with the device it was merged into (None when not tracked)."""

    def on_device_new(self, device: DeviceRecord, at: float) -> None:
        """A device the inventory has not seen before."""

    def tick(self, now: float) -> None:
        """Periodic housekeeping (expiry of idle state)."""

    def limits(self) -> dict[str, int]:
        """Evictions per bounded table, reported as dropped[<name>]."""
        return {}


def device_key_of(obs: Observation, device: DeviceRecord | None) -> str | None:
    """The key of the device that sent `obs`: the inventory's; else, like the inventory, "vlan/ip"
    for a public address (its MAC is the router's), else the MAC."""
    if device is not None:
        return device.key
    if obs.ip is not None and (obs.mac is None or not is_private_address(obs.ip)):
        return remote_key(obs.vlan, obs.ip)  # a public address is reached through a router
    return obs.mac


def flow_evidence(obs: Observation) -> dict[str, Any]:
    """Flow 5-tuple and time of one observation, as evidence fields."""
    flow = obs.flow
    out: dict[str, Any] = {"at": obs.at, "flow": str(flow) if flow is not None else None}
    if flow is not None:
        out["proto"] = flow.proto
        out["src_ip"], out["src_port"] = flow.src_ip, flow.src_port
        out["dst_ip"], out["dst_port"] = flow.dst_ip, flow.dst_port
    return out


@dataclass(slots=True)
class _Allowlist:
    macs: frozenset[str] = frozenset()
    ips: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    _cache: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> _Allowlist:
        macs: set[str] = set()
        ips: set[str] = set()
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            text = entry.strip().lower()
            if "/" in text:
                nets.append(ipaddress.ip_network(text, strict=False))
            elif text.count(":") == 5 and len(text) == 17:
                macs.add(text)
            else:
                ips.add(str(ipaddress.ip_address(text)))
        return cls(frozenset(macs), frozenset(ips), tuple(nets))

    def contains(self, mac: str | None, ip: str | None) -> bool:
        if mac is not None and mac in self.macs:
            return True
        if ip is None:
            return False
        if ip in self.ips:
            return True
        if not self.networks:
            return False
        hit = self._cache.get(ip)
        if hit is None:
            address = ipaddress.ip_address(ip)
            hit = any(address in net for net in self.networks)
            if len(self._cache) >= 4096:  # bounded: addresses come from the network
                self._cache.clear()
            self._cache[ip] = hit
        return hit


class RuleEngine:
    """Runs every rule of RULE_MODULES; the pipeline's single entry point to the detectors.

    Args:
        config: the [detect] section.
        now: wall clock for events that carry no time of their own (defaults to time.time).
        strict: re-raise rule bugs instead of counting them (tests).
        learning_started_at: when the new-device learning period began (kept by the daemon
            across restarts); by default the time of the first frame or observation.
    """

    def __init__(
        self,
        config: DetectConfig,
        now: Callable[[], float] | None = None,
        *,
        strict: bool = False,
        learning_started_at: float | None = None,
    ) -> None:
        self.config = config
        self.now = now if now is not None else time.time
        self.strict = strict
        self.learning_started_at = learning_started_at
        self.counters: dict[str, int] = {}
        self.store = FindingStore(config)
        self.allowlist = _Allowlist.parse(config.scanner_allowlist)
        self.gateways: set[str] = set()  # MACs the inventory says are routers
        # (vlan, ip) -> the MAC that sent from it: names the client of a server's observation.
        self._ip_macs: SourceTable[tuple[int | None, str], str] = SourceTable(
            config.sources_tracked_max
        )
        self._logged_errors: set[tuple[str, str]] = set()
        self.rules: list[Rule] = []
        for name in RULE_MODULES:
            module = importlib.import_module(f"capture.rules.{name}")
            for rule_cls in module.RULES:
                self.rules.append(rule_cls(config, self.store, self))
        self._ip_rules = [r for r in self.rules if "ip" in r.frame_kinds]
        self._arp_rules = [r for r in self.rules if "arp" in r.frame_kinds]
        self._obs_rules = [r for r in self.rules if r.wants_observations]
        self.last_at: float | None = None

    # -- inputs -------------------------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        """One frame of the count-only path."""
        self._clock(frame.at)
        packet = Packet(
            frame=frame,
            probe=probe_kind(frame),
            answer=is_answer(frame),
            allowlisted=self.allowlist.contains(frame.src_mac, frame.src_ip),
            engine=self,
            arp=parse_arp(frame),
        )
        if packet.arp is not None:
            rules = self._arp_rules
        else:
            rules = self._ip_rules
            src_mac = frame.src_mac
            if frame.src_ip is not None and src_mac is not None:
                self._ip_macs.setdefault((frame.vlan, frame.src_ip), lambda: src_mac)
        for rule in rules:
            self._guard(rule, rule.on_frame, packet)

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        self._clock(obs.at)
        if (
            device is not None
            and device.is_gateway
            and device.mac is not None
            and len(self.gateways) < _GATEWAYS_MAX
        ):
            self.gateways.add(device.mac)
        for rule in self._obs_rules:
            self._guard(rule, rule.on_observation, obs, device)

    def on_device_new(self, device: DeviceRecord) -> None:
        at = device.first_seen or self.now()
        self._clock(at)
        for rule in self.rules:
            self._guard(rule, rule.on_device_new, device, at)

    def tick(self, now: float) -> None:
        """Close quiet alerts, mark stale recommendations, expire idle detector state."""
        for rule in self.rules:
            self._guard(rule, rule.tick, now)
        self.store.tick(now)
        self._sync_counters()

    def drain(self) -> list[Finding]:
        self._sync_counters()
        return self.store.drain()

    def export_state(self) -> dict[str, Any]:
        """What a restarted sensor needs: the open findings (detector windows restart)."""
        return {"findings": self.store.export_state()}

    def import_state(self, state: Any) -> int:
        """Load export_state's output into this fresh engine; the findings restored."""
        if not isinstance(state, dict):
            raise ValueError("rules state: not an object")
        restored = self.store.import_state(state.get("findings", []))
        self._sync_counters()
        return restored

    def findings(self) -> list[Finding]:
        return self.store.findings()

    # -- helpers for rules ----------------------------------------------------------------------

    def frame_key(self, mac: str | None, ip: str | None, vlan: int | None) -> str | None:
        """Device key of one end of a frame: its MAC, unless that MAC is a router's.

        Like the inventory, a public address is a host reached through a router: "vlan/ip".
        """
        if ip is not None and not is_private_address(ip):
            return remote_key(vlan, ip)
        if mac is not None and mac not in self.gateways and mac != "ff:ff:ff:ff:ff:ff":
            return mac
        if ip is not None:
            return remote_key(vlan, ip)
        return mac

    def key_for_ip(self, vlan: int | None, ip: str) -> str:
        """Device key of the host that sent from `ip`: its MAC when seen on this segment."""
        mac = self._ip_macs.peek((vlan, ip))
        if mac is not None and mac not in self.gateways and is_private_address(ip):
            return mac
        return remote_key(vlan, ip)

    def is_learning(self, at: float) -> bool:
        """True while the new-device learning period runs."""
        started = self.learning_started_at
        return started is None or at - started < self.config.learning_period_s

    def _clock(self, at: float) -> None:
        if self.learning_started_at is None:
            self.learning_started_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at

    def _guard(self, rule: Rule, method: Callable[..., None], *args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:
            if self.strict:
                raise
            module = type(rule).__module__
            name = f"errors[{module}]"
            self.counters[name] = self.counters.get(name, 0) + 1
            key = (module, type(exc).__name__)
            if key not in self._logged_errors and len(self._logged_errors) < 256:
                self._logged_errors.add(key)
                log.error("rule %s failed", module, exc_info=True)

    def _sync_counters(self) -> None:
        totals: dict[str, int] = {
            "dropped[findings]": self.store.dropped,
            "dropped[addresses]": self._ip_macs.dropped,
            "dropped[restore_invalid]": self.store.restore_invalid,
        }
        for rule in self.rules:
            for name, value in rule.limits().items():
                key = f"dropped[{name}]"
                totals[key] = totals.get(key, 0) + value
        for key, value in totals.items():
            if value or key in self.counters:
                self.counters[key] = value
