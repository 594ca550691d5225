"""Building Observations from a Frame: text sanitising and the frame-derived fields.

Shared by the extractors so every one cleans wire text the same way (control characters
replaced, whitespace stripped, UTF-8 cut at ctx.text_max_bytes) and fills mac/ip/vlan/flow
from the frame the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from capture.frame import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, Frame
from capture.observation import FactValue, Flow, Observation, Role

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_PROTO_NAMES = {
    IPPROTO_TCP: "tcp",
    IPPROTO_UDP: "udp",
    IPPROTO_ICMP: "icmp",
    IPPROTO_ICMPV6: "icmpv6",
}


def clean_text(raw: bytes | str, max_bytes: int) -> str:
    """Text from the wire, safe to keep: decoded, control characters removed, capped.

    Runs of control characters (C0, DEL, C1) become one space so that words on separate
    lines stay separate; the result is stripped and cut to at most `max_bytes` of UTF-8
    without splitting a character.
    """
    if isinstance(raw, bytes):
        # Decode at most 4 bytes per kept byte: enough for any UTF-8, bounded work.
        raw = raw[: max_bytes * 4].decode("utf-8", "replace")
    else:
        raw = raw[: max_bytes * 4]
    text = _CONTROL.sub(" ", raw).strip()
    encoded = text.encode("utf-8")
    if len(encoded) > max_bytes:
        text = encoded[:max_bytes].decode("utf-8", "ignore").rstrip()
    return text


def flow_of(frame: Frame, proto: str | None = None) -> Flow:
    """The frame's 5-tuple; `proto` names non-IP frames (arp, lldp, cdp)."""
    name = _PROTO_NAMES.get(frame.ip_proto or -1) if proto is None else proto
    return Flow(
        proto=name or "ip",
        src_ip=frame.src_ip,
        src_port=frame.src_port,
        dst_ip=frame.dst_ip,
        dst_port=frame.dst_port,
        ttl=frame.ttl if frame.ip_version else None,
    )


def observe(
    frame: Frame,
    protocol: str,
    role: Role,
    facts: Mapping[str, FactValue],
    *,
    ip: str | None = None,
    flow_proto: str | None = None,
) -> Observation:
    """An Observation about the frame's sender (`ip` overrides the source address)."""
    return Observation(
        at=frame.at,
        mac=frame.src_mac.lower() if frame.src_mac else None,
        ip=ip if ip is not None else frame.src_ip,
        vlan=frame.vlan,
        protocol=protocol,
        role=role,
        facts=facts,
        flow=flow_of(frame, flow_proto),
    )
