"""A synthetic branch-office capture for the capture benchmark, generated deterministically.

The office: one /24 (10.20.0.0/24) behind a gateway, 160 hosts of mixed kinds (PCs, phones,
printers, cameras, TVs, smart-home devices), one switch sending LLDP. Traffic is mostly bulk:
TLS downloads and their ACKs, QUIC, RTP, HTTP and SMB transfers, DNS; about 3% is discovery and
control (ARP, DHCP, mDNS, SSDP, NBNS, LLDP, new TCP flows with SYN/SYN-ACK, TLS ClientHello,
HTTP request heads, FIN/RST), plus one SYN scan of 1000 ports.

Speed: a pool of a few thousand distinct frames is built once with scapy (or by hand for
TLS), then the packet stream picks from the pool (seeded) and writes pcap records directly.
Transport checksums of reused bulk frames are not recomputed (no reader compared here checks
them). Same seed and size → byte-identical file.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HOSTS = 160
SUBNET = "10.20.0."
GATEWAY_IP = SUBNET + "1"
GATEWAY_MAC = "00:1a:2b:00:00:01"
SWITCH_MAC = "00:1a:2b:00:00:02"
START_AT = 1_767_000_000  # 2025-12-29 UTC
PACKETS_PER_S = 1600.0
SCAN_PORTS = 1000
SCAN_AT_FRACTION = 0.4

# Share of packets per kind (sums to 1). Discovery/control kinds total ~3%.
MIX: dict[str, float] = {
    "tls_bulk": 0.42,
    "client_ack": 0.20,
    "quic": 0.10,
    "rtp": 0.08,
    "smb_bulk": 0.05,
    "http_bulk": 0.04,
    "dns": 0.03,
    "ntp_like_udp_high": 0.05,
    "arp": 0.006,
    "mdns": 0.005,
    "ssdp": 0.004,
    "nbns": 0.002,
    "dhcp": 0.001,
    "lldp": 0.0002,
    "tcp_open": 0.004,  # SYN, SYN-ACK (one each)
    "client_hello": 0.003,
    "http_head": 0.002,
    "tcp_close": 0.0028,  # FIN without ACK never happens in real closes: FIN-ACK and RST
}
DISCOVERY_KINDS = frozenset(
    {
        "arp",
        "mdns",
        "ssdp",
        "nbns",
        "dhcp",
        "lldp",
        "tcp_open",
        "client_hello",
        "http_head",
        "tcp_close",
    }
)


@dataclass(frozen=True)
class Host:
    index: int
    kind: str
    mac: str
    ip: str
    name: str


def hosts() -> list[Host]:
    """160 hosts: the kind decides which discovery protocols a host speaks."""
    kinds = (
        ["pc"] * 50
        + ["phone"] * 25
        + ["printer"] * 15
        + ["camera"] * 25
        + ["tv"] * 15
        + ["iot"] * 30
    )
    out = []
    for i, kind in enumerate(kinds):
        mac = f"02:b0:{i // 256:02x}:{i % 256:02x}:{len(kind):02x}:{(i * 7) % 256:02x}"
        out.append(Host(i, kind, mac, f"{SUBNET}{10 + i}", f"{kind}-{i:03d}"))
    return out


@dataclass
class Pool:
    """Prebuilt frames per kind."""

    frames: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, kind: str, frame: bytes) -> None:
        self.frames.setdefault(kind, []).append(frame)


def client_hello(sni: str) -> bytes:
    """A TLS 1.3-style ClientHello record with SNI, supported_versions and ALPN (RFC 8446)."""
    name = sni.encode()
    sni_ext = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    versions = struct.pack("!HHB", 43, 5, 4) + b"\x03\x04\x03\x03"
    groups = struct.pack("!HHH", 10, 6, 4) + b"\x00\x1d\x00\x17"
    alpn = struct.pack("!HHH", 16, 14, 12) + b"\x02h2\x08http/1.1"
    sigalgs = struct.pack("!HHH", 13, 8, 6) + b"\x04\x03\x08\x04\x04\x01"
    exts = sni_ext + versions + groups + alpn + sigalgs
    ciphers = b"\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f"
    body = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x00"
        + struct.pack("!H", len(ciphers))
        + ciphers
        + b"\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def build_pool(seed: int) -> tuple[Pool, list[bytes]]:
    """Frames per kind, and the SYN-scan sequence (probe, answer, probe, answer, ...)."""
    from scapy.contrib.lldp import (
        LLDPDUChassisID,
        LLDPDUEndOfLLDPDU,
        LLDPDUPortID,
        LLDPDUSystemDescription,
        LLDPDUSystemName,
        LLDPDUTimeToLive,
    )
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.layers.netbios import NBNSHeader, NBNSQueryRequest
    from scapy.packet import Raw

    rng = random.Random(seed)
    pool = Pool()
    all_hosts = hosts()
    remote = [f"203.0.113.{i}" for i in range(1, 60)] + [f"198.51.100.{i}" for i in range(1, 40)]

    def up(h: Host) -> Ether:
        return Ether(src=h.mac, dst=GATEWAY_MAC) / IP(src=h.ip, dst=rng.choice(remote), ttl=64)

    def down(h: Host, ip: str) -> Ether:
        return Ether(src=GATEWAY_MAC, dst=h.mac) / IP(src=ip, dst=h.ip, ttl=52)

    app_data = b"\x17\x03\x03\x05\xa3" + bytes(rng.getrandbits(8) for _ in range(1443))
    for h in all_hosts:
        for _ in range(2):
            ip, port = rng.choice(remote), rng.randrange(49152, 65535)
            pool.add(
                "tls_bulk",
                bytes(down(h, ip) / TCP(sport=443, dport=port, flags="A") / Raw(app_data)),
            )
            pool.add("client_ack", bytes(up(h) / TCP(sport=port, dport=443, flags="A", window=501)))
            pool.add(
                "quic", bytes(up(h) / UDP(sport=port, dport=443) / Raw(b"\x40" + app_data[:1199]))
            )
            pool.add(
                "quic",
                bytes(down(h, ip) / UDP(sport=443, dport=port) / Raw(b"\x40" + app_data[:1251])),
            )
            pool.add(
                "tls_bulk",
                bytes(down(h, ip) / TCP(sport=443, dport=port, flags="PA") / Raw(app_data[:700])),
            )
            pool.add(
                "http_bulk",
                bytes(down(h, ip) / TCP(sport=80, dport=port, flags="A") / Raw(app_data[5:])),
            )
            pool.add(
                "client_hello",
                bytes(
                    up(h)
                    / TCP(sport=port, dport=443, flags="PA")
                    / Raw(client_hello(f"api{rng.randrange(40)}.example.com"))
                ),
            )
            pool.add(
                "tcp_open",
                bytes(
                    up(h)
                    / TCP(
                        sport=port,
                        dport=443,
                        flags="S",
                        window=64240,
                        options=[
                            ("MSS", 1460),
                            ("SAckOK", b""),
                            ("Timestamp", (1, 0)),
                            ("NOP", None),
                            ("WScale", 7),
                        ],
                    )
                ),
            )
            pool.add(
                "tcp_open",
                bytes(
                    down(h, ip)
                    / TCP(
                        sport=443,
                        dport=port,
                        flags="SA",
                        window=65535,
                        options=[("MSS", 1400), ("NOP", None), ("WScale", 9)],
                    )
                ),
            )
            pool.add("tcp_close", bytes(up(h) / TCP(sport=port, dport=443, flags="FA")))
            pool.add("tcp_close", bytes(down(h, ip) / TCP(sport=443, dport=port, flags="RA")))
            pool.add(
                "dns",
                bytes(
                    Ether(src=h.mac, dst=GATEWAY_MAC)
                    / IP(src=h.ip, dst=GATEWAY_IP)
                    / UDP(sport=port, dport=53)
                    / DNS(rd=1, qd=DNSQR(qname=f"api{rng.randrange(40)}.example.com"))
                ),
            )
            pool.add(
                "dns",
                bytes(
                    Ether(src=GATEWAY_MAC, dst=h.mac)
                    / IP(src=GATEWAY_IP, dst=h.ip)
                    / UDP(sport=53, dport=port)
                    / DNS(
                        qr=1,
                        rd=1,
                        ra=1,
                        qd=DNSQR(qname="cdn.example.net"),
                        an=DNSRR(rrname="cdn.example.net", rdata=rng.choice(remote)),
                    )
                ),
            )
            pool.add(
                "ntp_like_udp_high",
                bytes(
                    up(h) / UDP(sport=port, dport=rng.randrange(10000, 60000)) / Raw(app_data[:200])
                ),
            )
        ua = {
            "pc": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            "tv": "SmartTV/7.0 (Tizen 6.5)",
            "camera": "Hikvision-Webs",
            "printer": "HP HTTP Server",
        }.get(h.kind, "curl/7.88.1")
        pool.add(
            "http_head",
            bytes(
                up(h)
                / TCP(sport=rng.randrange(49152, 65535), dport=80, flags="PA")
                / Raw(
                    f"GET /update.json HTTP/1.1\r\nHost: updates.example.com\r\nUser-Agent: {ua}\r\nAccept: */*\r\n\r\n".encode()
                )
            ),
        )
        pool.add(
            "arp",
            bytes(
                Ether(src=h.mac, dst="ff:ff:ff:ff:ff:ff")
                / ARP(op=1, hwsrc=h.mac, psrc=h.ip, pdst=GATEWAY_IP)
            ),
        )
        pool.add(
            "arp",
            bytes(
                Ether(src=GATEWAY_MAC, dst=h.mac)
                / ARP(op=2, hwsrc=GATEWAY_MAC, psrc=GATEWAY_IP, hwdst=h.mac, pdst=h.ip)
            ),
        )
        opts: list[object] = [
            ("message-type", "request"),
            ("requested_addr", h.ip),
            ("hostname", h.name.encode()),
            ("param_req_list", [1, 3, 6, 12, 15, 28, 42, 119]),
        ]
        if h.kind in ("camera", "iot", "tv"):
            opts.append(("vendor_class_id", b"udhcp 1.24.1"))
        elif h.kind == "pc":
            opts.append(("vendor_class_id", b"MSFT 5.0"))
        mac_bytes = bytes.fromhex(h.mac.replace(":", ""))
        pool.add(
            "dhcp",
            bytes(
                Ether(src=h.mac, dst="ff:ff:ff:ff:ff:ff")
                / IP(src="0.0.0.0", dst="255.255.255.255")
                / UDP(sport=68, dport=67)
                / BOOTP(chaddr=mac_bytes, xid=rng.getrandbits(32))
                / DHCP(options=[*opts, "end"])
            ),
        )
        if h.kind in ("phone", "pc"):
            pool.add(
                "rtp",
                bytes(
                    Ether(src=h.mac, dst=all_hosts[(h.index + 1) % HOSTS].mac)
                    / IP(src=h.ip, dst=all_hosts[(h.index + 1) % HOSTS].ip)
                    / UDP(sport=16384 + 2 * h.index, dport=20000 + 2 * h.index)
                    / Raw(b"\x80\x00" + bytes(170))
                ),
            )
            pool.add(
                "smb_bulk",
                bytes(
                    Ether(src=GATEWAY_MAC, dst=h.mac)
                    / IP(src=SUBNET + "5", dst=h.ip)
                    / TCP(sport=445, dport=50000 + h.index, flags="A")
                    / Raw(app_data[5:])
                ),
            )
        if h.kind == "pc":
            pool.add(
                "nbns",
                bytes(
                    Ether(src=h.mac, dst="ff:ff:ff:ff:ff:ff")
                    / IP(src=h.ip, dst=SUBNET + "255")
                    / UDP(sport=137, dport=137)
                    / NBNSHeader()
                    / NBNSQueryRequest(QUESTION_NAME=b"WPAD")
                ),
            )
        if h.kind in ("printer", "tv", "iot", "pc"):
            service = {
                "printer": "_ipp._tcp",
                "tv": "_googlecast._tcp",
                "iot": "_hap._tcp",
                "pc": "_workstation._tcp",
            }[h.kind]
            txt = {
                "printer": [b"ty=HP LaserJet Pro M404", b"product=(HP LaserJet Pro M404)"],
                "tv": [b"md=Chromecast", b"fn=" + h.name.encode()],
                "iot": [b"md=BSB002", b"ci=2"],
                "pc": [b"n=1"],
            }[h.kind]
            instance = f"{h.name}.{service}.local"
            dns = DNS(
                qr=1,
                aa=1,
                qd=None,
                an=DNSRR(rrname=f"{service}.local", type="PTR", rdata=instance)
                / DNSRR(rrname=instance, type="TXT", rdata=txt),
            )
            pool.add(
                "mdns",
                bytes(
                    Ether(src=h.mac, dst="01:00:5e:00:00:fb")
                    / IP(src=h.ip, dst="224.0.0.251", ttl=255)
                    / UDP(sport=5353, dport=5353)
                    / dns
                ),
            )
        if h.kind in ("camera", "tv", "iot"):
            server = {
                "camera": "Linux/3.10 UPnP/1.0 IPCamera/1.0",
                "tv": "Linux/4.4 UPnP/1.0 SmartTV/2.0",
                "iot": "Linux/2.6 UPnP/1.0 Portable SDK for UPnP devices/1.6.18",
            }[h.kind]
            text = f"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\nLOCATION: http://{h.ip}:49152/desc.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nSERVER: {server}\r\nUSN: uuid:{h.index:08x}-0000-1000-8000-{h.mac.replace(':', '')}::upnp:rootdevice\r\n\r\n"
            pool.add(
                "ssdp",
                bytes(
                    Ether(src=h.mac, dst="01:00:5e:7f:ff:fa")
                    / IP(src=h.ip, dst="239.255.255.250", ttl=4)
                    / UDP(sport=1900, dport=1900)
                    / Raw(text.encode())
                ),
            )
    pool.add(
        "lldp",
        bytes(
            Ether(src=SWITCH_MAC, dst="01:80:c2:00:00:0e")
            / LLDPDUChassisID(subtype=4, id=bytes.fromhex(SWITCH_MAC.replace(":", "")))
            / LLDPDUPortID(subtype=5, id=b"Gi1/0/24")
            / LLDPDUTimeToLive(ttl=120)
            / LLDPDUSystemName(system_name=b"branch-sw1")
            / LLDPDUSystemDescription(description=b"Branch access switch")
            / LLDPDUEndOfLLDPDU()
        ),
    )

    scanner, target = all_hosts[66], all_hosts[20]
    scan: list[bytes] = []
    open_ports = {22, 80, 443, 554}
    for port in rng.sample(range(1, 10000), SCAN_PORTS - len(open_ports)) + sorted(open_ports):
        scan.append(
            bytes(
                Ether(src=scanner.mac, dst=target.mac)
                / IP(src=scanner.ip, dst=target.ip, ttl=44)
                / TCP(sport=61000, dport=port, flags="S", window=1024, options=[("MSS", 1460)])
            )
        )
        flags = "SA" if port in open_ports else "RA"
        scan.append(
            bytes(
                Ether(src=target.mac, dst=scanner.mac)
                / IP(src=target.ip, dst=scanner.ip)
                / TCP(sport=port, dport=61000, flags=flags)
            )
        )
    return pool, scan  # fmt: skip


def generate(
    path: Path, packets: int, seed: int = 2026, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write a `packets`-long pcap to `path` (via a temp file, renamed when complete).

    Returns the number of packets written per kind (the scan counted as "syn_scan").
    """
    pool, scan = build_pool(seed)
    rng = random.Random(seed + 1)
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    draws = rng.choices(range(len(kinds)), weights=weights, k=packets)
    frames_by_kind = [pool.frames[k] for k in kinds]
    counts = dict.fromkeys(kinds, 0)
    counts["syn_scan"] = 0
    scan_start = int(packets * SCAN_AT_FRACTION)
    scan_end = min(packets, scan_start + len(scan))
    record = struct.Struct("<IIII")
    step_us = int(1_000_000 / PACKETS_PER_S)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk: list[bytes] = []
        t_us = 0
        for i in range(packets):
            t_us += step_us + (i * 7919) % 97  # deterministic jitter
            if scan_start <= i < scan_end:
                frame = scan[i - scan_start]
                counts["syn_scan"] += 1
            else:
                kind = draws[i]
                options = frames_by_kind[kind]
                frame = options[(i * 2654435761) % len(options)]
                counts[kinds[kind]] += 1
            n = len(frame)
            chunk.append(record.pack(START_AT + t_us // 1_000_000, t_us % 1_000_000, n, n))
            chunk.append(frame)
            if len(chunk) >= 20_000:
                fh.write(b"".join(chunk))
                chunk.clear()
                if progress is not None:
                    progress(i + 1)
        fh.write(b"".join(chunk))
    tmp.replace(path)
    return counts


def discovery_fraction(counts: dict[str, int]) -> float:
    total = sum(counts.values())
    return sum(v for k, v in counts.items() if k in DISCOVERY_KINDS or k == "syn_scan") / total
