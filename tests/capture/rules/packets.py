"""Built packets and observations for the rule tests.

Frames are made from real header bytes (Ethernet II, IPv4 RFC 791, TCP RFC 9293, UDP RFC 768,
ICMP RFC 792, ARP RFC 826) and parsed by capture.triage.parse_frame, the same path as capture.
Observations carry the fact keys of docs/observations.md, as the extractors emit them.
"""

from __future__ import annotations

import struct
from typing import Any

from capture.frame import Frame
from capture.observation import FactValue, Flow, Observation, Role
from capture.triage import parse_frame

LINKTYPE_ETHERNET = 1
SCANNER_MAC = "02:00:00:00:00:0a"
TARGET_MAC = "02:00:00:00:00:0b"
GATEWAY_MAC = "02:00:00:00:00:01"
BROADCAST = "ff:ff:ff:ff:ff:ff"

TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ip(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(src_mac: str, dst_mac: str, ethertype: int, payload: bytes) -> bytes:
    return _mac(dst_mac) + _mac(src_mac) + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, ttl, proto, 0, _ip(src), _ip(dst)
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, hop_limit: int = 64) -> bytes:
    """RFC 8200 fixed header (no extension headers)."""
    import ipaddress

    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, hop_limit)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


def tcp6(at: float, src: str, dst: str, sport: int, dport: int, flags: str = "S") -> Frame:
    segment = tcp_segment(sport, dport, flags)
    return frame_of(ethernet(SCANNER_MAC, TARGET_MAC, 0x86DD, ipv6(src, dst, 6, segment)), at)


def icmp6_echo(at: float, src: str, dst: str) -> Frame:
    """RFC 4443 §4.1 echo request (checksum left 0: the triage does not verify it)."""
    body = struct.pack("!BBHHH", 128, 0, 0, 0x1234, 1) + b"ping"
    return frame_of(ethernet(SCANNER_MAC, TARGET_MAC, 0x86DD, ipv6(src, dst, 58, body)), at)


def tcp_segment(
    sport: int, dport: int, flags: str, seq: int = 1000, ack: int = 0, payload: bytes = b""
) -> bytes:
    bits = sum(TCP_FLAGS[c] for c in flags)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, bits, 1024, 0, 0) + payload


def udp_datagram(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def frame_of(data: bytes, at: float) -> Frame:
    return parse_frame(data, at, LINKTYPE_ETHERNET)


def tcp(
    at: float,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: str = "S",
    *,
    src_mac: str = SCANNER_MAC,
    dst_mac: str = TARGET_MAC,
    seq: int = 1000,
    ack: int = 0,
    payload: bytes = b"",
) -> Frame:
    segment = tcp_segment(sport, dport, flags, seq, ack, payload)
    return frame_of(ethernet(src_mac, dst_mac, 0x0800, ipv4(src, dst, 6, segment)), at)


def udp(
    at: float,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    src_mac: str = SCANNER_MAC,
    dst_mac: str = TARGET_MAC,
) -> Frame:
    datagram = udp_datagram(sport, dport, payload)
    return frame_of(ethernet(src_mac, dst_mac, 0x0800, ipv4(src, dst, 17, datagram)), at)


def icmp_echo(
    at: float, src: str, dst: str, *, reply: bool = False, src_mac: str = SCANNER_MAC
) -> Frame:
    body = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, 0x1234, 1) + b"ping"
    body = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
    return frame_of(ethernet(src_mac, TARGET_MAC, 0x0800, ipv4(src, dst, 1, body)), at)


def arp(
    at: float,
    op: int,
    sender_mac: str,
    sender_ip: str,
    target_ip: str,
    target_mac: str = "00:00:00:00:00:00",
    *,
    eth_dst: str | None = None,
) -> Frame:
    body = (
        struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
        + _mac(sender_mac)
        + _ip(sender_ip)
        + _mac(target_mac)
        + _ip(target_ip)
    )
    dst = eth_dst if eth_dst is not None else (BROADCAST if op == 1 else target_mac)
    return frame_of(ethernet(sender_mac, dst, 0x0806, body), at)


def server_obs(
    at: float,
    protocol: str,
    facts: dict[str, FactValue],
    *,
    server_mac: str = TARGET_MAC,
    server_ip: str = "192.168.1.20",
    server_port: int = 23,
    client_ip: str = "192.168.1.10",
    client_port: int = 50000,
    transport: str = "tcp",
    role: Role = Role.SERVER,
) -> Observation:
    """An observation of the server side (server → client packet), as an extractor emits it."""
    flow = Flow(transport, server_ip, server_port, client_ip, client_port)
    return Observation(at, server_mac, server_ip, None, protocol, role, facts, flow)


def client_obs(
    at: float,
    protocol: str,
    facts: dict[str, Any],
    *,
    client_mac: str = SCANNER_MAC,
    client_ip: str = "192.168.1.10",
    client_port: int = 50000,
    server_ip: str = "192.168.1.20",
    server_port: int = 161,
    transport: str = "udp",
) -> Observation:
    """An observation of the client side (client → server packet)."""
    flow = Flow(transport, client_ip, client_port, server_ip, server_port)
    return Observation(at, client_mac, client_ip, None, protocol, Role.CLIENT, facts, flow)
