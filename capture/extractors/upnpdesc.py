"""UPnP device descriptions: the root device's identity read from an HTTP response body.

UPnP Device Architecture 1.1 §2.3 / 2.0 §2.3: a control point fetches the description URL
(SSDP LOCATION, e.g. /rootDesc.xml) and the device answers with an XML document whose root
element is `<root xmlns="urn:schemas-upnp-org:device-1-0">`. Its first `<device>` is the
root device, with `deviceType`, `friendlyName`, `manufacturer`, `modelDescription`,
`modelName`, `modelNumber` before its `iconList` / `serviceList` / `deviceList`; devices
under `<deviceList>` are embedded devices (a router's WANDevice, often with the UPnP
stack's own maker, "MiniUPnP") and describe parts, not the box, so they are never read.

Used by capture/extractors/http.py, which owns the flow state: the body is collected from
the response's segments (in sequence order, at most BODY_MAX_BYTES) only until the root
device's identity part is complete, then the state is dropped. A live sensor's filter admits
only the segment with the response head and one starting with the XML declaration
(capture/bpf.py), so at those segments the identity elements already whole are reported at
once, and all of them again when the rest arrives. Pure functions, no scapy.
"""

from __future__ import annotations

import html
import re

NAMESPACE = b"urn:schemas-upnp-org:device-1-0"
# The root device's identity elements come first (UDA §2.3 element order); a few KiB hold
# them in every description seen (the UniFi Dream Machine's ends at byte 700). Bounded so
# a flow costs at most this much while it is collected.
BODY_MAX_BYTES = 4096
ROOT_WITHIN_BYTES = 512  # the <root> element follows the XML declaration
VALUE_MAX_CHARS = 128  # UDA §2.3: friendlyName < 64, manufacturer < 64, modelName < 32 chars

# XML element -> fact key on the http observation (docs/observations.md).
FIELDS: dict[bytes, str] = {
    b"deviceType": "upnp_device_type",
    b"friendlyName": "upnp_friendly_name",
    b"manufacturer": "upnp_manufacturer",
    b"modelDescription": "upnp_model_description",
    b"modelName": "upnp_model_name",
    b"modelNumber": "upnp_model_number",
}
_ELEMENT = re.compile(
    rb"<(" + b"|".join(FIELDS) + rb")\s*>([^<]{0,%d})</\1\s*>" % (VALUE_MAX_CHARS * 4)
)
_DEVICE_START = re.compile(rb"<device\s*>")
# What follows the root device's own identity elements (UDA §2.3), or ends it.
_IDENTITY_END = re.compile(rb"<(?:iconList|serviceList|deviceList)\b|</device\s*>")
XML_DECLARATION = b"<?xml"
_XML_START = (XML_DECLARATION, b"<root")


def is_description_start(content_type: bytes | None, body: bytes) -> bool:
    """True when a 200 response looks like the start of a UPnP device description.

    An XML content type (UDA: `text/xml; charset="utf-8"`) and a body that is empty so far
    (the head came alone) or starts with the XML declaration or the `<root` element.
    """
    if content_type is None or b"xml" not in content_type.lower():
        return False
    start = body.lstrip()[:5]
    return not start or start.startswith(_XML_START)


def root_device(body: bytes, *, complete: bool) -> dict[str, str] | None:
    """The root device's identity facts once they are all in `body`; None while not yet.

    `complete` says no more of the body will come (Content-Length reached, the bound hit):
    then whatever identity elements are present are returned. Returns {} for a body that is
    not a UPnP device description (no device-1-0 namespace in its root element).
    """
    root = body.find(b"<root", 0, ROOT_WITHIN_BYTES)
    if root < 0:
        return {} if complete or len(body) >= ROOT_WITHIN_BYTES else None
    root_end = body.find(b">", root)
    if root_end < 0:
        return {} if complete else None
    if NAMESPACE not in body[root:root_end]:
        return {}  # an XML document, but not a UPnP device description
    start = _DEVICE_START.search(body)
    if start is None:
        return {} if complete else None
    end = _IDENTITY_END.search(body, start.end())
    if end is None and not complete:
        return None
    part = body[start.end() : end.start() if end is not None else len(body)]
    facts: dict[str, str] = {}
    for match in _ELEMENT.finditer(part):
        key = FIELDS[match.group(1)]
        if key in facts:
            continue
        value = _text(match.group(2))
        if value:
            facts[key] = value
    return facts


def _text(raw: bytes) -> str:
    """Element text: UTF-8 (UDA §2.3), XML character references decoded, spaces collapsed."""
    text = html.unescape(raw.decode("utf-8", "replace"))
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text[:VALUE_MAX_CHARS]
