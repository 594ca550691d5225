"""Test helper for the TCP/application extractors: Frames from scapy packets and pcaps.

Frames are filled by capture.triage.parse_frame, the same header parser the pipeline uses,
so the extractors see exactly what they will see in production. (framing.py, the discovery
extractors' helper, is similar; this one also drives whole TCP conversations.)
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapReader

from capture.extractors import ExtractContext
from capture.frame import Frame
from capture.observation import Observation
from capture.triage import LINKTYPE_ETHERNET, parse_frame

AT = 1_700_000_000.0
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:0c", "02:00:00:00:00:05"
CLIENT_IP, SERVER_IP = "192.0.2.10", "192.0.2.5"


def frame_of(pkt: Any, at: float = AT) -> Frame:
    """A Frame from a scapy-built Ethernet packet."""
    return parse_ethernet(bytes(pkt), at)


def parse_ethernet(data: bytes, at: float = AT) -> Frame:
    return parse_frame(data, at, LINKTYPE_ETHERNET)


@functools.lru_cache(maxsize=256)
def _template(kind: str, sport: int, dport: int, from_server: bool, flags: str) -> bytes:
    """Headers of a segment built once by scapy; payloads are spliced in by _splice."""
    src, dst = (SERVER_IP, CLIENT_IP) if from_server else (CLIENT_IP, SERVER_IP)
    smac, dmac = (SERVER_MAC, CLIENT_MAC) if from_server else (CLIENT_MAC, SERVER_MAC)
    ports = (dport, sport) if from_server else (sport, dport)
    l4 = (
        TCP(sport=ports[0], dport=ports[1], flags=flags)
        if kind == "tcp"
        else UDP(sport=ports[0], dport=ports[1])
    )
    return bytes(Ether(src=smac, dst=dmac) / IP(src=src, dst=dst) / l4)


def _splice(header: bytes, payload: bytes, seq: int | None) -> Frame:
    data = bytearray(header + payload)
    struct.pack_into("!H", data, 16, len(data) - 14)  # IPv4 total length
    if seq is None:
        struct.pack_into("!H", data, 38, len(data) - 34)  # UDP length
    else:
        struct.pack_into("!I", data, 38, seq & 0xFFFFFFFF)  # TCP sequence number
    return parse_ethernet(bytes(data))


def tcp_frame(
    payload: bytes,
    *,
    sport: int = 50000,
    dport: int = 80,
    from_server: bool = False,
    seq: int = 1000,
    flags: str = "PA",
) -> Frame:
    """A TCP segment between the test client and server; `from_server` flips direction.

    The headers come from scapy (once per shape); only lengths and the sequence number are
    patched per payload, which keeps property tests fast.
    """
    return _splice(_template("tcp", sport, dport, from_server, flags), payload, seq)


def udp_frame(payload: bytes, *, sport: int = 5060, dport: int = 5060) -> Frame:
    """A UDP datagram from the test client to the test server."""
    return _splice(_template("udp", sport, dport, False, ""), payload, None)


def conversation(
    segments: Iterable[tuple[bool, bytes]], *, sport: int = 50000, dport: int = 23
) -> list[Frame]:
    """Frames of one TCP connection: (from_server, payload) pairs with running sequence numbers."""
    seqs = {False: 1000, True: 5000}
    frames = []
    for from_server, payload in segments:
        frames.append(
            tcp_frame(
                payload, sport=sport, dport=dport, from_server=from_server, seq=seqs[from_server]
            )
        )
        seqs[from_server] += len(payload)
    return frames


def run(
    module: Any, frames: Iterable[Frame], ctx: ExtractContext | None = None
) -> list[Observation]:
    """Every observation `module` makes from `frames`, sharing one context (flow state)."""
    ctx = ctx or ExtractContext()
    out: list[Observation] = []
    for frame in frames:
        out.extend(module.extract(frame, ctx))
    return out


def read_frames(path: Path) -> Iterator[Frame]:
    """Frames of an Ethernet pcap or pcapng file, read in place."""
    with PcapReader(str(path)) as reader:  # type: ignore[no-untyped-call]
        for pkt in reader:
            yield parse_ethernet(bytes(pkt), float(pkt.time))


def tcp_payload_frames(path: Path) -> list[Frame]:
    """The TCP frames of a capture that carry payload or SYN (what the triage offers)."""
    return [
        f
        for f in read_frames(path)
        if f.is_tcp and (f.payload_offset < len(f.data) or (f.tcp_flags or 0) & 0x02)
    ]
