"""mDNS / DNS-SD extractor (RFC 6762, RFC 6763): Frame (UDP 5353) → Observation.

An answer (QR=1) is the sender announcing itself: the service types it offers, its
service-instance names, its host names and the TXT keys of its services (model, firmware,
manufacturer...). A query (QR=0) says what the sender looks for. Records in a query are
known answers about other devices, so they are not attributed to the sender.
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.dnswire import (
    TYPE_A,
    TYPE_AAAA,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    Message,
    Name,
    dotted,
    parse_message,
)
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "mdns"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({5353})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MAX_NAMES = 16  # per fact tuple
MAX_TXT_KEYS = 32  # per packet
MAX_KEY_LEN = 64
_META_SERVICES = ("_services", "_dns-sd", "_udp")  # RFC 6763 §9 service enumeration


def wants(frame: Frame) -> bool:
    return False


def _service_type(name: Name) -> str | None:
    """ "_ipp._tcp" from any name ending in _<service>._<tcp|udp>.<domain>."""
    for i in range(len(name) - 1):
        if name[i + 1] in ("_tcp", "_udp") and name[i].startswith("_"):
            if name[i : i + 3] == _META_SERVICES:
                return None
            return f"{name[i]}.{name[i + 1]}"
    return None


def _is_instance(name: Name) -> bool:
    """An instance name has a label before _service._proto (RFC 6763 §4.1), not _sub."""
    return len(name) >= 3 and not name[0].startswith("_") and name[1].startswith("_")


def _add(bag: list[str], value: str) -> None:
    if value and value not in bag and len(bag) < MAX_NAMES:
        bag.append(value)


def _txt_facts(
    strings: tuple[bytes, ...], ctx: ExtractContext, facts: dict[str, FactValue], flags: list[str]
) -> None:
    for raw in strings:
        if not raw:
            continue
        key_raw, sep, value_raw = raw.partition(b"=")
        key = clean_text(key_raw[:MAX_KEY_LEN], MAX_KEY_LEN)
        if not key:
            continue
        if not sep:  # a boolean attribute, or free text some devices put in TXT
            _add(flags, clean_text(raw, ctx.text_max_bytes))
            continue
        fact_key = f"txt.{key}"
        if fact_key not in facts and sum(k.startswith("txt.") for k in facts) < MAX_TXT_KEYS:
            facts[fact_key] = clean_text(value_raw, ctx.text_max_bytes)


def _answer_facts(message: Message, ctx: ExtractContext) -> dict[str, FactValue]:
    services: list[str] = []
    instances: list[str] = []
    hostnames: list[str] = []
    flags: list[str] = []
    facts: dict[str, FactValue] = {}
    for record in message.records:
        service = _service_type(record.name)
        if record.rtype == TYPE_PTR and record.target is not None:
            target_service = _service_type(record.target)
            if service is None and target_service is not None:  # _services._dns-sd._udp
                _add(services, target_service)
            if service is not None:
                _add(services, service)
                if _is_instance(record.target):
                    _add(instances, clean_text(dotted(record.target), ctx.text_max_bytes))
        elif record.rtype == TYPE_SRV and record.srv is not None:
            if service is not None:
                _add(services, service)
            if _is_instance(record.name):
                _add(instances, clean_text(dotted(record.name), ctx.text_max_bytes))
            _add(hostnames, clean_text(dotted(record.srv.target), ctx.text_max_bytes))
        elif record.rtype == TYPE_TXT:
            if service is not None:
                _add(services, service)
            if _is_instance(record.name):
                _add(instances, clean_text(dotted(record.name), ctx.text_max_bytes))
            _txt_facts(record.txt, ctx, facts, flags)
        elif record.rtype in (TYPE_A, TYPE_AAAA) and record.section != "ns":
            _add(hostnames, clean_text(dotted(record.name), ctx.text_max_bytes))
    for key, values in (
        ("services", services),
        ("instances", instances),
        ("hostnames", hostnames),
        ("txt_flags", flags),
    ):
        if values:
            facts[key] = tuple(values)
    return facts


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    message = parse_message(frame.payload)
    if message.opcode != 0:
        raise DecodeError("mdns_opcode")
    if message.is_response:
        facts = _answer_facts(message, ctx)
        return [observe(frame, NAME, Role.ANNOUNCER, facts)] if facts else []
    queries: list[str] = []
    for question in message.questions:
        _add(queries, clean_text(dotted(question.name), ctx.text_max_bytes))
    if not queries:
        return []
    return [observe(frame, NAME, Role.CLIENT, {"queries": tuple(queries)})]
