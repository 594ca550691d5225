"""TCP SYN / SYN-ACK features for passive OS fingerprinting: Frame → Observation.

What a stack chooses on its own when it opens (SYN) or accepts (SYN-ACK) a connection: the
IP TTL, the advertised window, the TCP options in their order, MSS and window scale, and the
DF bit. These are the inputs of p0f-style fingerprints; the classifier matches them.

Option layout letters (RFC 9293 §3.1 and the IANA "TCP Option Kind Numbers" registry):
E end of list (0), N no-op (1), M MSS (2), W window scale (3), S SACK permitted (4),
K SACK blocks (5), T timestamps (8), F fast open (34), ?<kind> for any other kind.
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import observe
from capture.frame import TCP_ACK, TCP_SYN, Frame
from capture.observation import FactValue, Observation, Role

NAME = "tcp_syn"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS: frozenset[int] = frozenset()  # offered every SYN through wants()
SCAPY = False

_LETTERS = {0: "E", 1: "N", 2: "M", 3: "W", 4: "S", 5: "K", 8: "T", 34: "F"}
_MAX_OPTIONS = 40  # a TCP header holds at most 40 option bytes


def wants(frame: Frame) -> bool:
    """Every TCP segment with SYN set (SYN and SYN-ACK)."""
    return frame.is_tcp and bool((frame.tcp_flags or 0) & TCP_SYN)


def parse_options(raw: bytes) -> tuple[str, int | None, int | None]:
    """The option layout string, the MSS and the window shift of a TCP options block.

    Raises:
        DecodeError: an option's length byte is missing, below 2, or runs past the header.
    """
    layout: list[str] = []
    mss: int | None = None
    wscale: int | None = None
    i, end = 0, min(len(raw), _MAX_OPTIONS)
    while i < end:
        kind = raw[i]
        if kind == 0:
            layout.append("E")
            break
        if kind == 1:
            layout.append("N")
            i += 1
            continue
        if i + 1 >= end:
            raise DecodeError("tcp_option_truncated")
        length = raw[i + 1]
        if length < 2 or i + length > end:
            raise DecodeError("tcp_option_length")
        if kind == 2 and length == 4:
            mss = int.from_bytes(raw[i + 2 : i + 4], "big")
        elif kind == 3 and length == 3:
            wscale = raw[i + 2]
        layout.append(_LETTERS.get(kind, f"?{kind}"))
        i += length
    return ",".join(layout), mss, wscale


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """One observation per SYN (role client) or SYN-ACK (role server)."""
    flags = frame.tcp_flags or 0
    if not frame.is_tcp or not flags & TCP_SYN:
        return []
    layout, mss, wscale = parse_options(frame.tcp_options)
    is_synack = bool(flags & TCP_ACK)
    facts: dict[str, FactValue] = {
        "ttl": frame.ttl,
        "window": frame.tcp_window,
        "mss": mss,
        "wscale": wscale,
        "options": layout,
        "df": frame.ip_df,
        "port": frame.src_port if is_synack else frame.dst_port,
        "ip_version": frame.ip_version,
    }
    return [observe(frame, NAME, Role.SERVER if is_synack else Role.CLIENT, facts)]
