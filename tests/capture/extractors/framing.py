"""Test helper: turn scapy-built packets and corpus captures into Frames for extractors.

Headers are parsed by capture.triage.parse_frame, the same code the pipeline runs, so the
extractors see exactly the Frames they get in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import RawPcapReader

from capture.errors import DecodeError
from capture.frame import Frame
from capture.triage import LINKTYPE_ETHERNET, parse_frame


def frame_from_bytes(data: bytes, at: float = 0.0) -> Frame:
    """A Frame from a raw Ethernet frame, parsed by the pipeline's own triage."""
    return parse_frame(data, at, LINKTYPE_ETHERNET)


def frame_from_packet(pkt: Packet, at: float = 1_700_000_000.0) -> Frame:
    """A Frame from a scapy-built Ethernet packet."""
    return frame_from_bytes(bytes(pkt), at)


def udp_frame(
    payload: bytes,
    sport: int,
    dport: int,
    *,
    src: str = "192.0.2.10",
    dst: str = "192.0.2.1",
    src_mac: str = "02:00:00:00:00:0a",
    dst_mac: str = "02:00:00:00:00:01",
) -> Frame:
    """A Frame of one UDP datagram carrying `payload` (IPv4 or IPv6 by address)."""
    l3 = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
    return frame_from_packet(
        Ether(src=src_mac, dst=dst_mac) / l3 / UDP(sport=sport, dport=dport) / payload
    )


def read_frames(path: Path) -> Iterator[Frame]:
    """Frames of an Ethernet pcap or pcapng file, read in place (raw records, no dissection)."""
    with RawPcapReader(str(path)) as reader:  # type: ignore[no-untyped-call]
        for data, meta in reader:
            if hasattr(meta, "tshigh"):  # pcapng
                at = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
            else:
                at = meta.sec + meta.usec / 1e6
            try:
                yield frame_from_bytes(data, at)
            except DecodeError:  # a header the triage drops never reaches an extractor
                continue


def load_fixtures(path: Path) -> list[dict[str, Any]]:
    """The `fixtures` list of one of the corpus's JSON hex files."""
    data = json.loads(path.read_text())
    fixtures = data["fixtures"]
    assert isinstance(fixtures, list)
    return fixtures
