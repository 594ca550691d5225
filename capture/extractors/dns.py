"""DNS extractor: Frame (UDP/TCP 53) → Observation of the names a device queries.

Only queries (QR=0) are observed: the querier is the device on the segment and the names
it resolves say what it talks to (cloud endpoints name the vendor). Responses come from
resolvers and say nothing about the resolver itself.
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.dnswire import dotted, parse_message
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "dns"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({53})
TCP_PORTS = frozenset({53})
SCAPY = False

MAX_QUESTIONS = 4  # one is the norm (RFC 9619); more are not worth observing


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    payload = frame.payload
    if frame.is_tcp:
        if not payload:
            return []
        # RFC 1035 §4.2.2: a 2-byte length precedes each message on TCP; a segment that
        # does not start a message is not parsed.
        payload = payload[2:]
    message = parse_message(payload, max_records=MAX_QUESTIONS)
    if message.is_response:
        return []
    if message.opcode != 0:
        raise DecodeError("dns_opcode")
    out: list[Observation] = []
    for question in message.questions:
        qname = clean_text(dotted(question.name), ctx.text_max_bytes)
        if qname:
            facts: dict[str, FactValue] = {"qname": qname, "qtype": question.qtype}
            out.append(observe(frame, NAME, Role.CLIENT, facts))
    return out
