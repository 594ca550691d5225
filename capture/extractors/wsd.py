"""WS-Discovery extractor (OASIS WS-Discovery 1.1 / the 2005/04 draft): Frame (UDP 3702) → Observation.

Windows finds printers, scanners and cameras (ONVIF) through SOAP-over-UDP messages: Hello
and Bye announce a device, ProbeMatches and ResolveMatches answer a search; each carries
the device's Types (e.g. wsdp:Device print:PrintDeviceType), XAddrs (its metadata URLs)
and Scopes. Probe and Resolve are a client searching.

XML from the network is parsed only after a document type declaration has been refused:
without a DOCTYPE, expat cannot define entities, so entity expansion attacks are
impossible, and the message size is bounded before parsing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "wsd"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({3702})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

MAX_MESSAGE_BYTES = 32768
MAX_ITEMS = 16
ANNOUNCE_ACTIONS = frozenset({"Hello", "Bye", "ProbeMatches", "ResolveMatches"})
CLIENT_ACTIONS = frozenset({"Probe", "Resolve"})
_LIST_FIELDS = {"Types": "types", "XAddrs": "xaddrs", "Scopes": "scopes"}


def wants(frame: Frame) -> bool:
    return False


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(data: bytes) -> ET.Element:
    if len(data) > MAX_MESSAGE_BYTES:
        raise DecodeError("wsd_too_large")
    if b"<!" in data:  # DOCTYPE, ENTITY (and CDATA/comments, never needed here)
        raise DecodeError("wsd_doctype")
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError, LookupError) as exc:  # LookupError: unknown encoding
        raise DecodeError("wsd_xml") from exc


def _items(text: str | None, ctx: ExtractContext) -> tuple[str, ...]:
    words = (text or "").split()[:MAX_ITEMS]
    return tuple(w for w in (clean_text(word, ctx.text_max_bytes) for word in words) if w)


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    root = _parse(frame.payload)
    if _local(root.tag) != "Envelope":
        raise DecodeError("wsd_not_soap")
    action = ""
    address: str | None = None
    facts: dict[str, FactValue] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name == "Action" and not action:
            action = (element.text or "").strip().rsplit("/", 1)[-1]
        elif name == "Address" and address is None:
            address = clean_text(element.text or "", ctx.text_max_bytes)
        elif name in _LIST_FIELDS and _LIST_FIELDS[name] not in facts:
            facts[_LIST_FIELDS[name]] = _items(element.text, ctx)
    action = clean_text(action, 64)
    if action in ANNOUNCE_ACTIONS:
        role = Role.ANNOUNCER
        if address:
            facts["endpoint"] = address
    elif action in CLIENT_ACTIONS:
        role = Role.CLIENT
        if address and action == "Resolve":
            facts["resolves"] = address  # another device's endpoint, not the sender's
    else:
        raise DecodeError("wsd_action")
    facts["action"] = action
    return [observe(frame, NAME, role, facts)]
