"""capture.triage: header parsing on hand-built bytes, and the per-frame decisions."""

from __future__ import annotations

import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.frame import ETH_P_ARP, TCP_ACK, TCP_FIN, TCP_SYN, Frame
from capture.triage import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    Triage,
    Verdict,
    is_counted,
    parse_frame,
)

# 802.1ad S-tag 100 then 802.1Q C-tag 42; IPv4 UDP 10.0.0.5:5353 -> 224.0.0.251:5353, "hi".
QINQ_MDNS = bytes.fromhex(
    "01005e0000fb020000000005"
    "88a80064"  # S-tag, VLAN 100
    "8100002a"  # C-tag, VLAN 42
    "0800"
    "4500001e00010000ff11d0cd0a000005e00000fb"
    "14e914e9000a829e"
    "6869"
)
# Linux cooked (SLL v1), sender 02:00:00:00:00:aa; IPv4 DF, TCP SYN 192.168.1.10:40000 ->
# 192.168.1.1:23, seq 1000, window 29200, option MSS 1460.
SLL_SYN = bytes.fromhex(
    "0000000100060200000000aa00000800"
    "4500002c000140004006b76fc0a8010ac0a80101"
    "9c400017000003e80000000060027210027b0000"
    "020405b4"
)
# Linux cooked v2: protocol 0x0800, ifindex 2, ARPHRD_ETHER, sender 02:00:00:00:00:bb;
# IPv4 ICMP echo request 10.1.1.1 -> 10.1.1.2.
SLL2_PING = bytes.fromhex(
    "080000000000000200010006" + "0200000000bb0000"
    "4500001c00020000400166cf0a0101010a010102"
    "0800f7fd00010001"
)
# IPv6 fe80::6 -> ff02::1 with hop-by-hop, destination options and a (first, last) fragment
# header before UDP 547 -> 546, payload "x".
IPV6_EXT_UDP = bytes.fromhex(
    "333300000001020000000006" + "86dd"
    "6000000000210001fe800000000000000000000000000006ff020000000000000000000000000001"
    "3c00010400000000"  # hop-by-hop: next 60 (dest opts), len 0, PadN
    "2c00010400000000"  # destination options: next 44 (fragment), PadN
    "1100000000000007"  # fragment: next 17 (UDP), offset 0, M 0, id 7
    "022302220009860c"
    "78"
)
# IEEE 802.3 frame (length 12) with LLC AA-AA-03 and SNAP OUI 00000c type 0x2000 (CDP).
LLC_CDP = bytes.fromhex("01000ccccccc020000000007000caaaa0300000c200002b40000")
# IPv4 with a 4-byte option (IHL 6, Record Route), ICMP echo request 10.1.1.1 -> 10.1.1.2.
IPV4_OPTIONS_PING = bytes.fromhex(
    "020000000009020000000008" + "0800"
    "4600002000020000400158d40a0101010a01010207030400"
    "0800f7fd00010001"
)
# Raw IPv4 (no link layer): UDP 192.0.2.7:68 -> 192.0.2.1:67, 1 byte payload, then two bytes
# of trailer beyond the IP total length (must not become payload).
RAW_UDP_TRAILER = bytes.fromhex(
    "4500001d000300004011f6c2c0000207c0000201" + "00440043000900000a" + "ffff"
)
# IPv4 fragment with offset 8 (a later fragment): no transport header to read.
IPV4_LATER_FRAGMENT = bytes.fromhex(
    "02000000000902000000000808004500001c0004000140110000" + "0a0101010a010102" + "0000000000000000"
)


def test_parse_qinq_takes_the_inner_customer_vlan_and_udp_payload() -> None:
    frame = parse_frame(QINQ_MDNS, 1.0, LINKTYPE_ETHERNET)
    assert frame.src_mac == "02:00:00:00:00:05"
    assert frame.vlan == 42
    assert (frame.src_ip, frame.dst_ip, frame.src_port, frame.dst_port) == (
        "10.0.0.5",
        "224.0.0.251",
        5353,
        5353,
    )
    assert frame.ttl == 255
    assert frame.payload == b"hi"


def test_parse_vlan_from_auxdata_is_kept_when_frame_has_no_tag() -> None:
    frame = parse_frame(IPV4_OPTIONS_PING, 1.0, LINKTYPE_ETHERNET, vlan=7)
    assert frame.vlan == 7


def test_parse_linux_cooked_tcp_syn_reads_flags_and_options() -> None:
    frame = parse_frame(SLL_SYN, 2.0, LINKTYPE_LINUX_SLL)
    assert frame.src_mac == "02:00:00:00:00:aa"
    assert frame.dst_mac is None
    assert frame.tcp_flags == TCP_SYN
    assert (frame.tcp_seq, frame.tcp_window) == (1000, 29200)
    assert frame.tcp_options == bytes.fromhex("020405b4")
    assert frame.ip_df is True
    assert (frame.src_port, frame.dst_port) == (40000, 23)
    assert frame.payload == b""


def test_parse_sll2_icmp_echo_type_and_code() -> None:
    frame = parse_frame(SLL2_PING, 3.0, LINKTYPE_LINUX_SLL2)
    assert frame.src_mac == "02:00:00:00:00:bb"
    assert (frame.icmp_type, frame.icmp_code) == (8, 0)
    assert frame.dst_ip == "10.1.1.2"


def test_parse_ipv6_walks_extension_headers_to_udp() -> None:
    frame = parse_frame(IPV6_EXT_UDP, 4.0, LINKTYPE_ETHERNET)
    assert frame.ip_version == 6
    assert frame.src_ip == "fe80::6"
    assert frame.ip_proto == 17
    assert (frame.src_port, frame.dst_port) == (547, 546)
    assert frame.is_fragment is True
    assert frame.payload == b"x"


def test_parse_ipv6_on_raw_linktype() -> None:
    frame = parse_frame(IPV6_EXT_UDP[14:], 4.0, LINKTYPE_IPV6)
    assert frame.src_mac is None and frame.dst_port == 546


def test_parse_8023_llc_frame_is_marked_llc() -> None:
    frame = parse_frame(LLC_CDP, 5.0, LINKTYPE_ETHERNET)
    assert frame.llc is True
    assert frame.ethertype == 12
    assert frame.payload[:3] == bytes.fromhex("aaaa03")


def test_parse_ipv4_options_are_skipped() -> None:
    frame = parse_frame(IPV4_OPTIONS_PING, 6.0, LINKTYPE_ETHERNET)
    assert frame.l4_offset == 14 + 24
    assert frame.icmp_type == 8


def test_parse_raw_ip_drops_trailer_beyond_ip_length() -> None:
    frame = parse_frame(RAW_UDP_TRAILER, 7.0, LINKTYPE_RAW)
    assert frame.src_mac is None
    assert (frame.src_ip, frame.dst_port) == ("192.0.2.7", 67)
    assert frame.payload == b"\x0a"


def test_parse_later_fragment_has_no_ports() -> None:
    frame = parse_frame(IPV4_LATER_FRAGMENT, 8.0, LINKTYPE_ETHERNET)
    assert frame.is_fragment and frame.src_port is None


@pytest.mark.parametrize(
    ("data", "linktype", "reason"),
    [
        # 13 bytes: shorter than an Ethernet header.
        (QINQ_MDNS[:13], LINKTYPE_ETHERNET, "truncated_ethernet"),
        # cut inside the 802.1Q tag.
        (QINQ_MDNS[:20], LINKTYPE_ETHERNET, "truncated_vlan"),
        # cut inside the IPv4 header.
        (QINQ_MDNS[:30], LINKTYPE_ETHERNET, "truncated_ipv4"),
        # IHL 4 (16 bytes): below the 20-byte minimum.
        (QINQ_MDNS[:22] + b"\x44" + QINQ_MDNS[23:], LINKTYPE_ETHERNET, "ipv4_header_length"),
        # IHL 6 promises options that were not captured.
        (IPV4_OPTIONS_PING[:36], LINKTYPE_ETHERNET, "truncated_ipv4_options"),
        # UDP header cut after 4 bytes.
        (RAW_UDP_TRAILER[:24], LINKTYPE_RAW, "truncated_udp"),
        # UDP length field 4 (< 8).
        (RAW_UDP_TRAILER[:24] + b"\x00\x04" + RAW_UDP_TRAILER[26:], LINKTYPE_RAW, "udp_length"),
        # TCP data offset 4 (16 bytes) is below the 20-byte minimum.
        (SLL_SYN[:48] + b"\x40" + SLL_SYN[49:], LINKTYPE_LINUX_SLL, "tcp_header_length"),
        # TCP header cut before its options end.
        (SLL_SYN[:-2], LINKTYPE_LINUX_SLL, "truncated_tcp_options"),
        # IPv6 extension header claims 2 KiB beyond the packet.
        (IPV6_EXT_UDP[:55] + b"\xff" + IPV6_EXT_UDP[56:], LINKTYPE_ETHERNET, "ipv6_ext_length"),
        # SLL header shorter than 16 bytes.
        (SLL_SYN[:10], LINKTYPE_LINUX_SLL, "truncated_sll"),
        # Raw IP whose version nibble is 5.
        (b"\x50" + RAW_UDP_TRAILER[1:], LINKTYPE_RAW, "raw_ip_version"),
        # A link type we do not read (LINKTYPE_IEEE802_11 = 105).
        (QINQ_MDNS, 105, "linktype_unsupported"),
    ],
)
def test_parse_malformed_raises_decode_error_with_reason(
    data: bytes, linktype: int, reason: str
) -> None:
    with pytest.raises(DecodeError) as info:
        parse_frame(data, 0.0, linktype)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("flags", "counted"),
    [
        (TCP_SYN, True),
        (TCP_SYN | TCP_ACK, True),
        (TCP_FIN, True),  # FIN scan
        (0, True),  # NULL scan
        (TCP_FIN | 0x08 | 0x20, True),  # Xmas
        (0x04 | TCP_ACK, True),  # RST-ACK
        (TCP_ACK, False),  # bulk ACK
        (TCP_ACK | 0x08, False),  # data
    ],
)
def test_is_counted_tcp_flag_kinds(flags: int, counted: bool) -> None:
    frame = Frame(at=0.0, data=b"", ip_version=4, ip_proto=6, tcp_flags=flags)
    assert is_counted(frame) is counted


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    defaults: dict[str, object] = {
        "NAME": name,
        "ETHERTYPES": frozenset(),
        "LLC": False,
        "UDP_PORTS": frozenset(),
        "TCP_PORTS": frozenset(),
        "SCAPY": False,
        "wants": lambda frame: False,
        "extract": lambda frame, ctx: [],
    }
    defaults.update(attrs)
    for key, value in defaults.items():
        setattr(module, key, value)
    return module


MDNS = _module("mdns", UDP_PORTS=frozenset({5353}))
ARP = _module("arp", ETHERTYPES=frozenset({ETH_P_ARP}))
CDP = _module("cdp", LLC=True)
TELNET = _module("telnet", TCP_PORTS=frozenset({23}), wants=lambda f: f.payload[:1] == b"\xff")
SYN = _module("tcp_syn", wants=lambda f: bool((f.tcp_flags or 0) & TCP_SYN))


def _triage(**kw: int | float) -> Triage:
    args: dict[str, int | float] = {"dedup_ttl_s": 300.0, "dedup_max_entries": 16, "flows_max": 16}
    args.update(kw)
    return Triage(
        (MDNS, ARP, CDP, TELNET, SYN),
        dedup_ttl_s=float(args["dedup_ttl_s"]),
        dedup_max_entries=int(args["dedup_max_entries"]),
        flows_max=int(args["flows_max"]),
    )


def _tcp(sport: int, dport: int, flags: int, payload: bytes = b"", *, reply: bool = False) -> Frame:
    data = bytes(54) + payload
    src, dst = ("10.0.0.2", "10.0.0.1") if reply else ("10.0.0.1", "10.0.0.2")
    return Frame(
        at=0.0,
        data=data,
        src_mac="02:00:00:00:00:01",
        ip_version=4,
        ip_proto=6,
        src_ip=src,
        dst_ip=dst,
        src_port=sport,
        dst_port=dport,
        tcp_flags=flags,
        payload_offset=54,
    )


def test_triage_dispatches_udp_by_port_table() -> None:
    decision = _triage().decide(parse_frame(QINQ_MDNS, 1.0, LINKTYPE_ETHERNET))
    assert decision.verdict is Verdict.DISSECT
    assert decision.modules == (MDNS,)


def test_triage_dispatches_llc_frames_to_llc_modules() -> None:
    decision = _triage().decide(parse_frame(LLC_CDP, 1.0, LINKTYPE_ETHERNET))
    assert decision.modules == (CDP,)


def test_triage_syn_is_counted_and_offered_to_wanting_modules() -> None:
    decision = _triage().decide(parse_frame(SLL_SYN, 1.0, LINKTYPE_LINUX_SLL))
    assert decision.counted
    assert decision.modules == (TELNET, SYN)  # port 23 owner, then the SYN fingerprinter


def test_triage_bulk_ack_is_dropped() -> None:
    decision = _triage().decide(_tcp(443, 50000, TCP_ACK, b"\x17\x03\x03"))
    assert decision.verdict is Verdict.DROP


def test_triage_flow_claimed_by_wants_keeps_every_segment_both_directions() -> None:
    triage = _triage()
    first = triage.decide(_tcp(2323, 40000, TCP_ACK, b"\xff\xfd\x18"))  # IAC DO on port 2323
    reply = triage.decide(_tcp(40000, 2323, TCP_ACK, b"root\r\n", reply=True))
    later = triage.decide(_tcp(2323, 40000, TCP_ACK, b"Password: "))
    assert first.modules == reply.modules == later.modules == (TELNET,)


def test_triage_tcp_payloads_are_never_deduplicated() -> None:
    triage = _triage()
    for _ in range(3):
        assert triage.decide(_tcp(23, 40000, TCP_ACK, b"login: ")).modules == (TELNET,)
    assert triage.deduplicated == 0


def test_triage_unclaimed_flow_declined_is_not_asked_again() -> None:
    calls: list[int] = []

    def wants(frame: Frame) -> bool:
        calls.append(1)
        return False

    probe = _module("probe", wants=wants)
    triage = Triage((probe,), dedup_ttl_s=300.0, dedup_max_entries=16, flows_max=16)
    for _ in range(20):
        triage.decide(_tcp(5000, 40000, TCP_ACK, b"bulk"))
    assert len(calls) == 4


def test_triage_repeated_announcement_is_dissected_once_per_ttl() -> None:
    triage = _triage(dedup_ttl_s=60.0)
    verdicts = [
        triage.decide(parse_frame(QINQ_MDNS, at, LINKTYPE_ETHERNET)).verdict
        for at in (0.0, 10.0, 59.0, 61.0)
    ]
    # 0 dissected; 10 and 59 repeats; 61 is 61 s after the last dissection: dissected again.
    assert verdicts == [Verdict.DISSECT, Verdict.DROP, Verdict.DROP, Verdict.DISSECT]
    assert triage.deduplicated == 2


def test_triage_dedup_survives_timestamps_going_backwards() -> None:
    triage = _triage(dedup_ttl_s=60.0)
    triage.decide(parse_frame(QINQ_MDNS, 1000.0, LINKTYPE_ETHERNET))
    # The clock stepped back an hour: not treated as a repeat within the TTL.
    back = triage.decide(parse_frame(QINQ_MDNS, -2600.0 + 1000.0, LINKTYPE_ETHERNET))
    assert back.verdict is Verdict.DISSECT


def test_triage_dedup_memory_is_bounded_lru() -> None:
    triage = _triage(dedup_max_entries=2)
    for i in range(5):
        frame = parse_frame(QINQ_MDNS[:-2] + bytes([0x41 + i, 0x42]), float(i), LINKTYPE_ETHERNET)
        triage.decide(frame)
    assert triage.dedup_entries == 2
    assert triage.dedup_evicted == 3


def test_triage_later_fragment_is_not_dissected() -> None:
    triage = _triage()
    decision = triage.decide(parse_frame(IPV4_LATER_FRAGMENT, 0.0, LINKTYPE_ETHERNET))
    assert decision.modules == ()


TLS = _module("tls", TCP_PORTS=frozenset({443}))


def _tls_triage() -> Triage:
    return Triage(
        (TLS,),
        dedup_ttl_s=300.0,
        dedup_max_entries=16,
        flows_max=16,
        tcp_segments_max={"tls": 2},
    )


def test_segment_budget_stops_offering_bulk_of_a_port_claimed_flow() -> None:
    triage = _tls_triage()
    offered = [triage.decide(_tcp(50000, 443, TCP_ACK, b"\x16\x03\x01")).modules for _ in range(4)]
    assert offered == [(TLS,), (TLS,), (), ()]
    assert triage.over_budget == 2
    # A new connection on the same 4-tuple (SYN) starts a fresh budget.
    triage.decide(_tcp(50000, 443, TCP_SYN))
    assert triage.decide(_tcp(50000, 443, TCP_ACK, b"\x16\x03\x01")).modules == (TLS,)


# Ethernet, IPv4 10.0.0.1 -> 10.0.0.2, TCP 50000 -> 443 flags ACK|PSH, 3 payload bytes.
TLS_DATA = bytes.fromhex(
    "020000000002020000000001" + "0800"
    "4500002b000100004006668a0a0000010a000002"
    "c35001bb00000001000000015018ffff00000000"
    "170303"
)
# The same segment as a bare ACK (no payload, IP total length 40).
BARE_ACK = TLS_DATA[:17] + b"\x28" + TLS_DATA[18:47] + b"\x10" + TLS_DATA[48:54]


def test_raw_fast_path_agrees_with_full_triage() -> None:
    triage = _tls_triage()
    assert triage.skips(BARE_ACK, None) is True
    assert triage.decide(parse_frame(BARE_ACK, 0.0, LINKTYPE_ETHERNET)).verdict is Verdict.DROP
    for _ in range(2):  # within budget: the fast path defers, the full triage offers
        assert triage.skips(TLS_DATA, None) is False
        assert triage.decide(parse_frame(TLS_DATA, 0.0, LINKTYPE_ETHERNET)).modules == (TLS,)
    assert triage.skips(TLS_DATA, None) is True  # over budget: dropped on raw bytes
    assert triage.decide(parse_frame(TLS_DATA, 0.0, LINKTYPE_ETHERNET)).modules == ()


def test_raw_fast_path_leaves_malformed_and_counted_frames_to_the_full_parse() -> None:
    triage = _tls_triage()
    syn = TLS_DATA[:47] + bytes([TCP_SYN]) + TLS_DATA[48:]
    bad_offset = TLS_DATA[:46] + b"\x30" + TLS_DATA[47:]  # TCP data offset 12 bytes
    assert triage.skips(syn, None) is False
    assert triage.skips(bad_offset, None) is False
    assert triage.skips(TLS_DATA[:40], None) is False


_VALID_FRAMES = (QINQ_MDNS, SLL_SYN, SLL2_PING, IPV6_EXT_UDP, LLC_CDP, IPV4_OPTIONS_PING, TLS_DATA)
_LINKTYPES = (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    LINKTYPE_IPV6,
)


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=128),
        st.builds(
            lambda frame, cut, flip, value: _mutate(frame, cut, flip, value),
            st.sampled_from(_VALID_FRAMES),
            st.integers(0, 200),
            st.integers(0, 199),
            st.integers(0, 255),
        ),
    ),
    linktype=st.sampled_from(_LINKTYPES),
)
def test_arbitrary_bytes_raise_only_decode_error(data: bytes, linktype: int) -> None:
    triage = _triage()
    triage.skips(data, None)
    try:
        frame = parse_frame(data, 0.0, linktype)
    except DecodeError:
        return
    triage.decide(frame)


def _mutate(frame: bytes, cut: int, flip: int, value: int) -> bytes:
    out = bytearray(frame[: max(cut, 1)])
    if out:
        out[flip % len(out)] = value
    return bytes(out)


def test_dhcp_retransmission_differing_only_in_secs_is_deduplicated() -> None:
    dhcp = _module("dhcp", UDP_PORTS=frozenset({67, 68}))
    triage = Triage((dhcp,), dedup_ttl_s=300.0, dedup_max_entries=16, flows_max=16)
    # BOOTREQUEST: op 1, htype 1, hlen 6, hops 0, xid, then secs = 0 and later secs = 4.
    head = bytes.fromhex("01010600" + "12345678")
    tail = bytes(2) + bytes(16) + bytes.fromhex("001122334455") + bytes(10)
    first, retry = head + b"\x00\x00" + tail, head + b"\x00\x04" + tail
    decisions = []
    for at, payload in ((0.0, first), (4.0, retry)):
        frame = Frame(
            at=at,
            data=bytes(42) + payload,
            src_mac="00:11:22:33:44:55",
            ip_version=4,
            ip_proto=17,
            src_ip="0.0.0.0",
            dst_ip="255.255.255.255",
            src_port=68,
            dst_port=67,
            payload_offset=42,
        )
        decisions.append(triage.decide(frame))
    assert decisions[0].modules == (dhcp,)
    assert decisions[1].deduplicated
