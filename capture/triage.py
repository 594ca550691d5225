"""Per-packet header triage: raw bytes → Frame → verdict (drop, count only, dissect).

Input: the bytes of one captured packet with its link type. Output: a Frame (capture/frame.py)
and a Verdict naming the extractor modules to offer it to. Plain Python on struct/memoryview,
no scapy: this runs for every packet that passed the kernel filter, so it reads headers only.

Link types (tcpdump.org/linktypes.html): 1 Ethernet (802.1Q/802.1ad tags, 802.3/LLC),
113 Linux cooked (SLL), 276 SLL2, 101/12/14 raw IP (version from the first nibble),
228 raw IPv4, 229 raw IPv6.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import ModuleType

from capture.errors import DecodeError
from capture.frame import (
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Frame,
)

log = logging.getLogger(__name__)

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_BSD = 12  # DLT_RAW on most BSDs
LINKTYPE_RAW_OPENBSD = 14  # DLT_RAW on OpenBSD
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_P_QINQ_OLD = 0x9100  # pre-standard 802.1ad S-tag, still sent by some switches
_VLAN_TPIDS = frozenset((ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ_OLD))
_MAX_VLAN_TAGS = 4
ARPHRD_ETHER = 1
# Linux SLL protocol values that are not EtherTypes (linux/if_ether.h).
_SLL_P_802_3 = 0x0001
_SLL_P_802_2 = 0x0004

# IPv6 extension headers (RFC 8200 §4, IANA "IPv6 Extension Header Types").
_IPV6_HOPOPTS = 0
_IPV6_ROUTING = 43
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_IPV6_NONXT = 59
_IPV6_DSTOPTS = 60
_IPV6_GENERIC_EXT = frozenset((_IPV6_HOPOPTS, _IPV6_ROUTING, _IPV6_DSTOPTS, 135, 139, 140))
_MAX_IPV6_EXT = 8

_U16 = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBB")  # ver/ihl, tos, total length, id, flags/frag, ttl, proto
_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
_UDP = struct.Struct("!HHH")  # ports, length

_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6


def parse_frame(data: bytes, at: float, linktype: int, vlan: int | None = None) -> Frame:
    """Parse the headers of one packet.

    Args:
        data: the captured bytes (possibly cut at the snap length).
        at: packet time, UTC epoch seconds.
        linktype: the pcap LINKTYPE_* value of the capture.
        vlan: a VLAN id the kernel stripped (PACKET_AUXDATA), if any; a tag still in the
            frame is inner to it and wins.

    Raises:
        DecodeError: a header is truncated or malformed (reason is a stable token).
    """
    frame = Frame(at=at, data=data, vlan=vlan)
    if linktype == LINKTYPE_ETHERNET:
        _parse_ethernet(frame, data)
    elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD):
        if not data:
            raise DecodeError("truncated_ip")
        version = data[0] >> 4
        _parse_l3(frame, data, ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0, 0)
        if frame.ip_version == 0:
            raise DecodeError("raw_ip_version")
    elif linktype == LINKTYPE_IPV4:
        _parse_l3(frame, data, ETH_P_IP, 0)
    elif linktype == LINKTYPE_IPV6:
        _parse_l3(frame, data, ETH_P_IPV6, 0)
    elif linktype == LINKTYPE_LINUX_SLL:
        _parse_sll(frame, data)
    elif linktype == LINKTYPE_LINUX_SLL2:
        _parse_sll2(frame, data)
    else:
        raise DecodeError("linktype_unsupported")
    return frame


def _parse_ethernet(frame: Frame, data: bytes) -> None:
    if len(data) < 14:
        raise DecodeError("truncated_ethernet")
    frame.dst_mac = data[0:6].hex(":")
    frame.src_mac = data[6:12].hex(":")
    _parse_ethertype(frame, data, _U16.unpack_from(data, 12)[0], 14)


def _parse_ethertype(frame: Frame, data: bytes, ethertype: int, offset: int) -> None:
    tags = 0
    while ethertype in _VLAN_TPIDS:
        tags += 1
        if tags > _MAX_VLAN_TAGS:
            raise DecodeError("vlan_tags")
        if len(data) < offset + 4:
            raise DecodeError("truncated_vlan")
        tci, ethertype = struct.unpack_from("!HH", data, offset)
        frame.vlan = tci & 0x0FFF  # innermost tag wins: the customer VLAN under 802.1ad
        offset += 4
    if ethertype < 0x0600:
        # IEEE 802.3 length field: an LLC (and maybe SNAP) header follows (CDP, STP).
        frame.llc = True
        frame.ethertype = ethertype
        frame.l3_offset = offset
        frame.payload_offset = offset
        return
    _parse_l3(frame, data, ethertype, offset)


def _parse_sll(frame: Frame, data: bytes) -> None:
    # Linux cooked v1: packet type, ARPHRD type, address length, address (8), protocol.
    if len(data) < 16:
        raise DecodeError("truncated_sll")
    hatype, halen = struct.unpack_from("!HH", data, 2)
    if hatype == ARPHRD_ETHER and halen == 6:
        frame.src_mac = data[6:12].hex(":")
    _parse_sll_protocol(frame, data, _U16.unpack_from(data, 14)[0], 16)


def _parse_sll2(frame: Frame, data: bytes) -> None:
    # Linux cooked v2: protocol, reserved, ifindex, ARPHRD type, packet type, addr len, addr.
    if len(data) < 20:
        raise DecodeError("truncated_sll2")
    hatype = _U16.unpack_from(data, 8)[0]
    if hatype == ARPHRD_ETHER and data[11] == 6:
        frame.src_mac = data[12:18].hex(":")
    _parse_sll_protocol(frame, data, _U16.unpack_from(data, 0)[0], 20)


def _parse_sll_protocol(frame: Frame, data: bytes, protocol: int, offset: int) -> None:
    if protocol in (_SLL_P_802_2, _SLL_P_802_3):
        frame.llc = True
        frame.ethertype = max(0, len(data) - offset)
        frame.l3_offset = offset
        frame.payload_offset = offset
        return
    _parse_ethertype(frame, data, protocol, offset)


def _parse_l3(frame: Frame, data: bytes, ethertype: int, offset: int) -> None:
    frame.ethertype = ethertype
    frame.l3_offset = offset
    if ethertype == ETH_P_IP:
        end = _parse_ipv4(frame, data, offset)
    elif ethertype == ETH_P_IPV6:
        end = _parse_ipv6(frame, data, offset)
    else:
        frame.payload_offset = offset
        return
    if len(frame.data) > end:
        # Ethernet trailer/padding after the IP packet is not payload.
        frame.data = frame.data[:end]


def _parse_ipv4(frame: Frame, data: bytes, offset: int) -> int:
    if len(data) < offset + 20:
        raise DecodeError("truncated_ipv4")
    vihl, _tos, total_len, ip_id, frag, ttl, proto = _IPV4.unpack_from(data, offset)
    end: int
    if vihl >> 4 != 4:
        raise DecodeError("ipv4_version")
    ihl = (vihl & 0x0F) * 4
    if ihl < 20:
        raise DecodeError("ipv4_header_length")
    if len(data) < offset + ihl:
        raise DecodeError("truncated_ipv4_options")
    if total_len == 0:
        total_len = len(data) - offset  # TCP segmentation offload on the capturing host
    elif total_len < ihl:
        raise DecodeError("ipv4_total_length")
    frame.ip_version = 4
    frame.src_ip = _inet_ntoa(data[offset + 12 : offset + 16])
    frame.dst_ip = _inet_ntoa(data[offset + 16 : offset + 20])
    frame.ip_proto = proto
    frame.ttl = ttl
    frame.ip_total_len = total_len
    frame.ip_id = ip_id
    frame.ip_df = bool(frag & 0x4000)
    frag_offset = frag & 0x1FFF
    frame.is_fragment = bool(frag & 0x2000) or frag_offset != 0
    end = offset + total_len
    l4: int = offset + ihl
    frame.l4_offset = l4
    if frag_offset:
        frame.payload_offset = l4  # a later fragment: no transport header here
        return end
    _parse_l4(frame, data, proto, l4, min(end, len(data)))
    return end


def _parse_ipv6(frame: Frame, data: bytes, offset: int) -> int:
    if len(data) < offset + 40:
        raise DecodeError("truncated_ipv6")
    if data[offset] >> 4 != 6:
        raise DecodeError("ipv6_version")
    payload_len = _U16.unpack_from(data, offset + 4)[0]
    nxt = data[offset + 6]
    frame.ip_version = 6
    frame.ttl = data[offset + 7]
    frame.src_ip = _inet_ntop(_AF_INET6, data[offset + 8 : offset + 24])
    frame.dst_ip = _inet_ntop(_AF_INET6, data[offset + 24 : offset + 40])
    # payload length 0 is a jumbogram (RFC 2675) or TSO: take what was captured.
    end = offset + 40 + payload_len if payload_len else len(data)
    frame.ip_total_len = end - offset
    pos = offset + 40
    later_fragment = False
    for _ in range(_MAX_IPV6_EXT):
        if nxt in _IPV6_GENERIC_EXT:
            if len(data) < pos + 2:
                raise DecodeError("truncated_ipv6_ext")
            nxt, hlen = data[pos], (data[pos + 1] + 1) * 8
        elif nxt == _IPV6_FRAGMENT:
            if len(data) < pos + 8:
                raise DecodeError("truncated_ipv6_ext")
            frag = _U16.unpack_from(data, pos + 2)[0]
            frame.is_fragment = True
            frame.ip_id = struct.unpack_from("!I", data, pos + 4)[0]
            later_fragment = frag >> 3 != 0
            nxt, hlen = data[pos], 8
        elif nxt == _IPV6_AH:
            if len(data) < pos + 2:
                raise DecodeError("truncated_ipv6_ext")
            nxt, hlen = data[pos], (data[pos + 1] + 2) * 4  # RFC 4302 §2.2
        else:
            break
        pos += hlen
        if pos > end:
            raise DecodeError("ipv6_ext_length")
    else:
        raise DecodeError("ipv6_ext_chain")
    frame.ip_proto = nxt
    frame.l4_offset = pos
    if later_fragment or nxt == _IPV6_NONXT:
        frame.payload_offset = pos
        return end
    _parse_l4(frame, data, nxt, pos, min(end, len(data)))
    return end


def _parse_l4(frame: Frame, data: bytes, proto: int, l4: int, end: int) -> None:
    if proto == IPPROTO_TCP:
        if end < l4 + 20:
            raise DecodeError("truncated_tcp")
        sport, dport, seq, ack, doff, flags, window = _TCP.unpack_from(data, l4)
        hlen = (doff >> 4) * 4
        if hlen < 20:
            raise DecodeError("tcp_header_length")
        if end < l4 + hlen:
            raise DecodeError("truncated_tcp_options")
        frame.src_port = sport
        frame.dst_port = dport
        frame.tcp_seq = seq
        frame.tcp_ack = ack
        frame.tcp_flags = flags
        frame.tcp_window = window
        if hlen > 20:
            frame.tcp_options = data[l4 + 20 : l4 + hlen]
        frame.payload_offset = l4 + hlen
    elif proto == IPPROTO_UDP:
        if end < l4 + 8:
            raise DecodeError("truncated_udp")
        sport, dport, ulen = _UDP.unpack_from(data, l4)
        if ulen and ulen < 8:
            raise DecodeError("udp_length")
        frame.src_port = sport
        frame.dst_port = dport
        frame.payload_offset = l4 + 8
        if ulen and l4 + ulen < len(frame.data):
            frame.data = data[: l4 + ulen]
    elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        if end < l4 + 2:
            raise DecodeError("truncated_icmp")
        frame.icmp_type = data[l4]
        frame.icmp_code = data[l4 + 1]
        frame.payload_offset = l4  # the whole ICMP message, type and code included
    else:
        frame.payload_offset = l4


# --- triage -------------------------------------------------------------------------------


class Verdict(IntEnum):
    DROP = 0  # neither counted nor dissected
    COUNT = 1  # only the rules' count-only path (scan and flow statistics)
    DISSECT = 2  # offered to extractors (and counted too when `counted`)


@dataclass(slots=True)
class Decision:
    """What to do with one frame: count it for the rules, and/or offer it to `modules`."""

    verdict: Verdict
    counted: bool
    modules: tuple[ModuleType, ...] = ()
    deduplicated: bool = False


_DROP = Decision(Verdict.DROP, False)
_COUNT = Decision(Verdict.COUNT, True)

# ICMP kinds the detectors count (RFC 792, RFC 4443): echo reply/request, unreachable.
_ICMP_COUNTED = frozenset((0, 3, 8))
_ICMPV6_COUNTED = frozenset((1, 128, 129))
_UDP_COUNT_BELOW = 1024  # UDP to a well-known port: scans and discovery probes
# Payloads of an unclaimed flow that no module wanted before the flow is no longer offered:
# the identifying bytes (banner, request line, ClientHello, IAC, "RFB ") come first.
_DECLINE_AFTER = 4
_BOOTPS = 67  # DHCP server port: client requests go to it


def is_counted(frame: Frame) -> bool:
    """True for the frames the detectors count (the BPF filter admits the same kinds).

    TCP without ACK (SYN, FIN, NULL, Xmas), RST, SYN-ACK; ICMP/ICMPv6 echo and unreachable;
    ARP; UDP to a port below 1024.
    """
    flags = frame.tcp_flags
    if flags is not None:
        return (
            not flags & TCP_ACK
            or bool(flags & TCP_RST)
            or flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK
        )
    if frame.icmp_type is not None:
        kinds = _ICMP_COUNTED if frame.ip_proto == IPPROTO_ICMP else _ICMPV6_COUNTED
        return frame.icmp_type in kinds
    if frame.ethertype == ETH_P_ARP:
        return True
    dport = frame.dst_port
    return frame.ip_proto == IPPROTO_UDP and dport is not None and dport < _UDP_COUNT_BELOW


class Triage:
    """Decides per frame: drop, count only, or dissect by which extractor modules.

    Dispatch tables come from each module's ETHERTYPES / LLC / UDP_PORTS / TCP_PORTS; TCP and
    UDP payloads no table claims are offered to every module whose `wants(frame)` accepts
    them, and a TCP flow a module wanted once keeps going to it (both directions), because
    Telnet and RFB need every segment (the same memory applies to UDP flows). SYN and SYN-ACK segments are offered through
    `wants()` too (the TCP fingerprint extractor reads them).

    A module may need only the first payload segments of a TCP flow (a TLS ClientHello, HTTP
    heads): `TCP_SEGMENTS_MAX` on the module, or `tcp_segments_max[NAME]` (the registry's
    policy), caps the payload segments of a port-claimed flow offered to it, both directions
    together; later segments count as `over_budget`. Modules without a cap (Telnet, RFB) see
    every segment.

    Repeated identical payloads (same source MAC and IP, same bytes: mDNS/SSDP announcements,
    DHCP retries) are dissected once per `dedup_ttl_s`, remembered in an LRU of
    `dedup_max_entries`. TCP payloads are never de-duplicated: extractors keep per-flow state.
    """

    def __init__(
        self,
        modules: Iterable[ModuleType],
        *,
        dedup_ttl_s: float,
        dedup_max_entries: int,
        flows_max: int,
        tcp_segments_max: Mapping[str, int] | None = None,
    ) -> None:
        self.modules = tuple(modules)
        # Extractor NAME -> payload segments per TCP flow it needs (absent: every segment).
        self._segment_limits: dict[str, int] = {
            m.NAME: int(v) for m in self.modules if (v := getattr(m, "TCP_SEGMENTS_MAX", None))
        }
        for name, limit in (tcp_segments_max or {}).items():
            self._segment_limits.setdefault(name, limit)
        self._budgets: dict[tuple[ModuleType, ...], int | None] = {}
        self._segments: OrderedDict[tuple[object, ...], int] = OrderedDict()
        self.over_budget = 0
        self.dedup_ttl_s = dedup_ttl_s
        self.dedup_max_entries = dedup_max_entries
        self.flows_max = flows_max
        self.deduplicated = 0
        self.dedup_evicted = 0
        self.flows_evicted = 0
        self._ethertypes: dict[int, tuple[ModuleType, ...]] = {}
        self._udp: dict[int, tuple[ModuleType, ...]] = {}
        self._tcp: dict[int, tuple[ModuleType, ...]] = {}
        self._llc: tuple[ModuleType, ...] = ()
        self._build_tables()
        self._seen: OrderedDict[tuple[str | None, str | None, int], float] = OrderedDict()
        # flow key -> the modules that wanted it, or how many payloads were declined so far
        self._flows: OrderedDict[tuple[object, ...], tuple[ModuleType, ...] | int] = OrderedDict()

    def _build_tables(self) -> None:
        ethertypes: dict[int, list[ModuleType]] = {}
        udp: dict[int, list[ModuleType]] = {}
        tcp: dict[int, list[ModuleType]] = {}
        llc: list[ModuleType] = []
        for module in self.modules:
            for value in getattr(module, "ETHERTYPES", ()):
                ethertypes.setdefault(value, []).append(module)
            for port in getattr(module, "UDP_PORTS", ()):
                udp.setdefault(port, []).append(module)
            for port in getattr(module, "TCP_PORTS", ()):
                tcp.setdefault(port, []).append(module)
            if getattr(module, "LLC", False):
                llc.append(module)
        self._ethertypes = {k: tuple(v) for k, v in ethertypes.items()}
        self._udp = {k: tuple(v) for k, v in udp.items()}
        self._tcp = {k: tuple(v) for k, v in tcp.items()}
        self._llc = tuple(llc)

    def skips(self, data: bytes, vlan: int | None) -> bool:
        """True for an untagged Ethernet/IPv4 TCP or UDP packet `decide` would drop anyway.

        The fast path for bulk traffic, on raw bytes, before any Frame is built: a bare ACK,
        a data segment of a flow over its extractors' segment budget, or a TCP/UDP payload of
        a flow every `wants()` declined (UDP only to ports >= 1024, which the rules ignore). Anything else (SYN/FIN/RST, fragments, options this cannot vouch for,
        malformed headers) returns False and takes the full parse, so weird packets are
        still counted there.
        """
        if len(data) < 42 or data[12] != 0x08 or data[13] != 0x00:
            return False
        vihl = data[14]
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or data[20] & 0x3F or data[21]:
            return False  # not IPv4, or a fragment (MF set or an offset)
        l4 = 14 + ihl
        proto = data[23]
        if proto == IPPROTO_UDP:
            return self._skips_udp(data, vlan, l4)
        if proto != IPPROTO_TCP:
            return False
        if len(data) < l4 + 20:
            return False
        flags = data[l4 + 13]
        if flags & (TCP_SYN | TCP_FIN | TCP_RST) or not flags & TCP_ACK:
            return False  # counted kinds and flow ends take the full path
        doff = (data[l4 + 12] >> 4) * 4
        total = (data[16] << 8) | data[17]
        if doff < 20 or total < ihl + doff or len(data) < l4 + doff:
            return False  # TSO length 0 or a malformed header: the full parse decides
        if total == ihl + doff:
            return True  # a bare ACK
        sport = (data[l4] << 8) | data[l4 + 1]
        dport = (data[l4 + 2] << 8) | data[l4 + 3]
        tcp = self._tcp
        modules = tcp.get(dport, ())
        other = tcp.get(sport, ())
        if other and other is not modules:
            modules = modules + tuple(m for m in other if m not in modules)
        src = (_inet_ntoa(data[26:30]), sport)
        dst = (_inet_ntoa(data[30:34]), dport)
        key = (vlan, *src, *dst) if src <= dst else (vlan, *dst, *src)
        if modules:
            budget = self._budget(modules)
            if budget is None or self._segments.get(key, 0) < budget:
                return False
            self.over_budget += 1
            return True
        state = self._flows.get(key)
        if isinstance(state, int) and state >= _DECLINE_AFTER:
            self._flows.move_to_end(key)
            return True
        return False

    def _skips_udp(self, data: bytes, vlan: int | None, l4: int) -> bool:
        """A UDP datagram of a flow every `wants()` declined, to a port the rules ignore."""
        if len(data) < l4 + 8:
            return False
        sport = (data[l4] << 8) | data[l4 + 1]
        dport = (data[l4 + 2] << 8) | data[l4 + 3]
        if dport < _UDP_COUNT_BELOW or dport in self._udp or sport in self._udp:
            return False
        src = (_inet_ntoa(data[26:30]), sport)
        dst = (_inet_ntoa(data[30:34]), dport)
        key = (vlan, *src, *dst) if src <= dst else (vlan, *dst, *src)
        state = self._flows.get(key)
        if isinstance(state, int) and state >= _DECLINE_AFTER:
            self._flows.move_to_end(key)
            return True
        return False

    def decide(self, frame: Frame) -> Decision:
        """The decision for one parsed frame (updates flow and de-duplication memory)."""
        counted = is_counted(frame)
        if frame.is_fragment and frame.src_port is None and frame.icmp_type is None:
            return _COUNT if counted else _DROP  # a later IP fragment: no transport header
        proto = frame.ip_proto
        if proto == IPPROTO_TCP:
            modules = self._tcp_modules(frame)
        elif proto == IPPROTO_UDP:
            modules = self._udp_modules(frame)
        elif frame.ip_version:
            modules = self._wanting(frame) if proto == IPPROTO_ICMPV6 else ()
            modules = modules or self._ethertypes.get(frame.ethertype, ())
        elif frame.llc:
            modules = self._llc
        else:
            modules = self._ethertypes.get(frame.ethertype, ())
        if not modules:
            return _COUNT if counted else _DROP
        if proto != IPPROTO_TCP and self._is_repeat(frame):
            self.deduplicated += 1
            return Decision(Verdict.COUNT if counted else Verdict.DROP, counted, (), True)
        return Decision(Verdict.DISSECT, counted, modules)

    def _udp_modules(self, frame: Frame) -> tuple[ModuleType, ...]:
        modules = _union(self._udp, frame)
        if modules or frame.payload_offset >= len(frame.data):
            return modules
        return self._flow_modules(frame, ended=False)

    def _tcp_modules(self, frame: Frame) -> tuple[ModuleType, ...]:
        modules = _union(self._tcp, frame)
        flags = frame.tcp_flags or 0
        if flags & TCP_SYN:
            # SYN / SYN-ACK: offered to port owners and to modules wanting it (fingerprints).
            if self._segments:
                self._segments.pop(_flow_key(frame), None)  # a new connection on this 4-tuple
            wanting = self._wanting(frame)
            return modules + tuple(m for m in wanting if m not in modules)
        if frame.payload_offset >= len(frame.data):
            return ()  # a bare ACK / FIN / RST: nothing for an extractor to read
        ended = bool(flags & (TCP_FIN | TCP_RST))
        if modules:
            budget = self._budget(modules)
            return modules if budget is None else self._within_budget(frame, modules, budget, ended)
        return self._flow_modules(frame, ended=ended)

    def _budget(self, modules: tuple[ModuleType, ...]) -> int | None:
        """Payload segments per flow these modules need; None when one of them needs all."""
        budget = self._budgets.get(modules, -1)
        if budget == -1:
            limits = [self._segment_limits.get(m.NAME) for m in modules]
            budget = None if any(v is None for v in limits) else max(v or 0 for v in limits)
            self._budgets[modules] = budget
        return budget

    def _within_budget(
        self, frame: Frame, modules: tuple[ModuleType, ...], budget: int, ended: bool
    ) -> tuple[ModuleType, ...]:
        """Offer a port-claimed flow's first `budget` payload segments (both directions)."""
        key = _flow_key(frame)
        counts = self._segments
        used = counts.get(key, 0)
        if ended:
            counts.pop(key, None)
        elif used < budget:
            counts[key] = used + 1
            counts.move_to_end(key)
            if len(counts) > self.flows_max:
                counts.popitem(last=False)
                self.flows_evicted += 1
        if used >= budget:
            self.over_budget += 1
            return ()
        return modules

    def _flow_modules(self, frame: Frame, *, ended: bool) -> tuple[ModuleType, ...]:
        """Modules for a payload no port table claimed, remembered per flow.

        A flow some module wanted keeps going to it; a flow declined on its first
        `_DECLINE_AFTER` payloads is not asked about again (bulk traffic on odd ports).
        """
        key = _flow_key(frame)
        flows = self._flows
        state = flows.get(key)
        if state is not None:
            flows.move_to_end(key)
            if ended:
                del flows[key]
            if isinstance(state, tuple):
                return state
            if state >= _DECLINE_AFTER:
                return ()
        wanting = self._wanting(frame)
        if not ended:
            flows[key] = wanting if wanting else (state or 0) + 1
            if len(flows) > self.flows_max:
                flows.popitem(last=False)
                self.flows_evicted += 1
        return wanting

    def _wanting(self, frame: Frame) -> tuple[ModuleType, ...]:
        return tuple(m for m in self.modules if _wants(m, frame))

    def _is_repeat(self, frame: Frame) -> bool:
        """True when the same source sent the same payload within the TTL (then not again)."""
        if self.dedup_max_entries <= 0:
            return False
        payload = frame.payload
        if frame.dst_port == _BOOTPS and len(payload) >= 10:
            # RFC 2131 §2: a retransmitted DHCP request differs only in `secs` (bytes 8-9).
            payload = payload[:8] + payload[10:]
        key = (frame.src_mac, frame.src_ip, hash(payload))
        seen = self._seen
        last = seen.get(key)
        at = frame.at
        if last is not None and 0.0 <= at - last < self.dedup_ttl_s:
            seen.move_to_end(key)
            return True
        seen[key] = at
        seen.move_to_end(key)
        if len(seen) > self.dedup_max_entries:
            seen.popitem(last=False)
            self.dedup_evicted += 1
        return False

    @property
    def dedup_entries(self) -> int:
        return len(self._seen)

    @property
    def flows_tracked(self) -> int:
        return len(self._flows)


def _union(table: dict[int, tuple[ModuleType, ...]], frame: Frame) -> tuple[ModuleType, ...]:
    a = table.get(frame.dst_port or 0, ())
    b = table.get(frame.src_port or 0, ())
    if a and b and a is not b:
        return a + tuple(m for m in b if m not in a)
    return a or b


def _wants(module: ModuleType, frame: Frame) -> bool:
    wants = getattr(module, "wants", None)
    return bool(wants(frame)) if wants is not None else False


def _flow_key(frame: Frame) -> tuple[object, ...]:
    a = (frame.src_ip, frame.src_port)
    b = (frame.dst_ip, frame.dst_port)
    return (frame.vlan, *a, *b) if a <= b else (frame.vlan, *b, *a)  # type: ignore[operator]
