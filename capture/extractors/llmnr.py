"""LLMNR extractor (RFC 4795): Frame (UDP/TCP 5355) → Observation of a host name.

A query names what the sender looks for (Windows falls back to LLMNR for unknown single
labels); a response comes from the host that owns the name, so it names the responder.
"""

from __future__ import annotations

from capture.extractors import ExtractContext
from capture.extractors.dnswire import TYPE_A, TYPE_AAAA, dotted, parse_message
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "llmnr"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({5355})
TCP_PORTS = frozenset({5355})
SCAPY = False


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    payload = frame.payload
    if frame.is_tcp:  # RFC 4795 §2.5: DNS-style 2-byte length prefix on TCP
        if not payload:
            return []
        payload = payload[2:]
    message = parse_message(payload, max_records=8)
    if not message.is_response:
        if not message.questions:
            return []
        name = clean_text(dotted(message.questions[0].name), ctx.text_max_bytes)
        return [observe(frame, NAME, Role.CLIENT, {"name": name})] if name else []
    owned = [r for r in message.records if r.section == "an" and r.rtype in (TYPE_A, TYPE_AAAA)]
    if not owned:
        return []
    name = clean_text(dotted(owned[0].name), ctx.text_max_bytes)
    if not name:
        return []
    facts: dict[str, FactValue] = {"name": name}
    addresses = tuple(dict.fromkeys(r.address for r in owned if r.address))
    if addresses:
        facts["addresses"] = addresses
    return [observe(frame, NAME, Role.ANNOUNCER, facts)]
