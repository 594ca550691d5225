"""NetBIOS Name Service extractor (RFC 1001/1002): Frame (UDP 137) → Observation of names.

A registration, refresh or release (opcodes 5, 8/9, 6) is the sender announcing a name it
owns, with the group flag from the NB record. A positive answer whose NB address is the
sender's own address, and a node-status answer (the node's name table), are announcements
too. A name query is the sender asking for another host's name.

Names are first-level encoded (RFC 1001 §14.1): 32 letters 'A'..'P', two per byte, for a
15-byte name padded with spaces and a one-byte suffix (0x00 workstation, 0x20 server,
0x1d master browser...).
"""

from __future__ import annotations

import socket
import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.dnswire import Message, Name, parse_message
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "nbns"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({137})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

TYPE_NB = 0x20
TYPE_NBSTAT = 0x21
OPCODE_QUERY = 0
_ANNOUNCE_OPCODES = frozenset({5, 6, 8, 9})  # registration, release, refresh (8 and 9)
NB_GROUP = 0x8000
MAX_STATUS_NAMES = 32


def wants(frame: Frame) -> bool:
    return False


def decode_netbios_name(name: Name) -> tuple[bytes, int]:
    """(name bytes without padding, suffix) from a first-level encoded name.

    Raises:
        DecodeError: the first label is not 32 letters in 'A'..'P'.
    """
    if not name or len(name[0]) != 32:
        raise DecodeError("nbns_name_length")
    encoded = name[0].upper()
    try:
        raw = bytes(
            ((ord(encoded[i]) - 0x41) << 4) | (ord(encoded[i + 1]) - 0x41) for i in range(0, 32, 2)
        )
    except ValueError as exc:  # a character below 'A' gives a negative byte
        raise DecodeError("nbns_name_encoding") from exc
    if any(not 0x41 <= ord(c) <= 0x50 for c in encoded):
        raise DecodeError("nbns_name_encoding")
    return raw[:15].rstrip(b" \x00"), raw[15]


def _name_facts(
    raw: bytes, suffix: int, group: bool | None, ctx: ExtractContext
) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = {"name": clean_text(raw, ctx.text_max_bytes), "suffix": suffix}
    if group is not None:
        facts["group"] = group
    return facts


def _nb_entries(rdata: bytes) -> list[tuple[int, str]]:
    """(NB_FLAGS, IPv4 address) pairs of an NB record (RFC 1002 §4.2.1.3)."""
    if len(rdata) % 6:
        raise DecodeError("nbns_nb_rdata")
    return [
        (struct.unpack_from("!H", rdata, i)[0], socket.inet_ntoa(rdata[i + 2 : i + 6]))
        for i in range(0, len(rdata), 6)
    ]


def _node_status(rdata: bytes, ctx: ExtractContext) -> dict[str, FactValue] | None:
    """The node's own name table from a NODE STATUS RESPONSE (RFC 1002 §4.2.18)."""
    if not rdata:
        raise DecodeError("nbns_status_truncated")
    count = min(rdata[0], MAX_STATUS_NAMES)
    if len(rdata) < 1 + 18 * count:
        raise DecodeError("nbns_status_truncated")
    names: list[str] = []
    primary: dict[str, FactValue] | None = None
    for i in range(count):
        entry = rdata[1 + 18 * i : 19 + 18 * i]
        raw, suffix, flags = (
            entry[:15].rstrip(b" \x00"),
            entry[15],
            struct.unpack_from("!H", entry, 16)[0],
        )
        text = clean_text(raw, ctx.text_max_bytes)
        names.append(f"{text}<{suffix:02x}>")
        group = bool(flags & NB_GROUP)
        if primary is None and suffix == 0 and not group:
            primary = _name_facts(raw, suffix, group, ctx)
    if primary is None:
        return None
    primary["names"] = tuple(names)
    return primary


def _announcement(message: Message, frame: Frame, ctx: ExtractContext) -> list[Observation]:
    out: list[Observation] = []
    for record in message.records:
        if record.rtype == TYPE_NBSTAT and message.is_response:
            facts = _node_status(record.rdata, ctx)
            if facts is not None:
                out.append(observe(frame, NAME, Role.ANNOUNCER, facts))
            continue
        if record.rtype != TYPE_NB:
            continue
        raw, suffix = decode_netbios_name(record.name)
        for flags, address in _nb_entries(record.rdata)[:4]:
            if message.is_response and address != frame.src_ip:
                continue  # a name server answering for another host
            facts = _name_facts(raw, suffix, bool(flags & NB_GROUP), ctx)
            out.append(observe(frame, NAME, Role.ANNOUNCER, facts, ip=address))
            break
    return out


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    message = parse_message(frame.payload, max_records=8)
    opcode = message.opcode
    if opcode in _ANNOUNCE_OPCODES or (opcode == OPCODE_QUERY and message.is_response):
        return _announcement(message, frame, ctx)
    if opcode != OPCODE_QUERY:
        return []
    if not message.questions:
        raise DecodeError("nbns_no_question")
    raw, suffix = decode_netbios_name(message.questions[0].name)
    if raw.startswith(b"*"):  # node status wildcard: asks "who are you", names nobody
        return []
    facts = _name_facts(raw, suffix, None, ctx)
    facts["query"] = True
    return [observe(frame, NAME, Role.CLIENT, facts)]
