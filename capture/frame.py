"""Frame: the headers of one captured packet, parsed by the triage without scapy.

The triage (capture/triage.py) fills a Frame from raw bytes; extractors read it. Offsets
index into `data`; `payload` is the transport payload (UDP/TCP data, or the L3 payload for
other IP protocols, or the frame body after the Ethernet/802.1Q header for non-IP frames).
"""

from __future__ import annotations

from dataclasses import dataclass

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_LLDP = 0x88CC

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_URG = 0x20


@dataclass(slots=True)
class Frame:
    """One packet's headers. Mutable only while the triage fills it; read-only after.

    MACs are lowercase aa:bb:cc:dd:ee:ff. For 802.3/LLC frames (CDP, STP) `ethertype` is the
    length field value (< 0x600) and `llc` is True.
    """

    at: float
    data: bytes
    src_mac: str | None = None
    dst_mac: str | None = None
    vlan: int | None = None
    ethertype: int = 0
    llc: bool = False
    l3_offset: int = 0
    ip_version: int = 0  # 0 = not IP
    src_ip: str | None = None
    dst_ip: str | None = None
    ip_proto: int | None = None
    ttl: int | None = None
    ip_total_len: int | None = None
    ip_df: bool = False
    ip_id: int | None = None
    is_fragment: bool = False
    l4_offset: int = 0
    src_port: int | None = None
    dst_port: int | None = None
    tcp_flags: int | None = None
    tcp_seq: int | None = None
    tcp_ack: int | None = None
    tcp_window: int | None = None
    tcp_options: bytes = b""
    icmp_type: int | None = None
    icmp_code: int | None = None
    payload_offset: int = 0

    @property
    def payload(self) -> bytes:
        return self.data[self.payload_offset :]

    @property
    def is_tcp(self) -> bool:
        return self.ip_proto == IPPROTO_TCP

    @property
    def is_udp(self) -> bool:
        return self.ip_proto == IPPROTO_UDP
