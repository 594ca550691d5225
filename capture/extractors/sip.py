"""SIP requests and responses: Frame → Observation (User-Agent, Server, identities).

RFC 3261 §7: a start line ("INVITE sip:bob@host SIP/2.0" or "SIP/2.0 200 OK") and headers,
some with compact names (§7.3.3: f From, t To, m Contact, i Call-ID, v Via, l
Content-Length). Over UDP 5060 and TCP 5060/5061 (5061 only when the stream is plain text),
and any port through wants().

Role is the side of the exchange, never a guess at the device type: whoever sends a request
is a client (a phone registering, but also nmap's OPTIONS probe from <sip:nm@nm>); whoever
answers is a server (a PBX, or a phone answering that probe). The classifier decides which
of them are phones.

Added fact keys: `reason` and `cseq_method` (responses), `transport` ("udp"/"tcp"), `port`
(the responder's port, responses only), `register_status` (the status of a response to
REGISTER: its sender is a registrar). A response that echoes the request's headers (it
carries Max-Forwards) gives no `user_agent`: that one is the requester's. A password in a URI's userinfo (RFC 3261 §19.1.1,
deprecated) is dropped.
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "sip"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({5060})
TCP_PORTS = frozenset({5060, 5061})
SCAPY = False

# RFC 3261 §27.4 plus RFC 3262 (PRACK), 3265/6665 (SUBSCRIBE, NOTIFY), 3311 (UPDATE),
# 3428 (MESSAGE), 3515 (REFER), 3903 (PUBLISH), 6086 (INFO).
METHODS = frozenset(
    b"INVITE ACK BYE CANCEL OPTIONS REGISTER PRACK SUBSCRIBE NOTIFY PUBLISH INFO REFER "
    b"MESSAGE UPDATE".split()
)
_COMPACT = {
    "f": "from",
    "t": "to",
    "m": "contact",
    "i": "call-id",
    "v": "via",
    "l": "content-length",
}
_WANTED = frozenset(("from", "to", "contact", "user-agent", "server", "cseq", "max-forwards"))
HEAD_MAX_BYTES = 4096
HEADERS_MAX = 64


def _start_line(payload: bytes) -> bytes | None:
    """The first line of a SIP message in `payload`, or None when it does not look like one."""
    if payload.startswith(b"SIP/2.0 "):
        end = payload.find(b"\n", 0, 256)
        return payload[: end if end >= 0 else 256].rstrip(b"\r")
    space = payload.find(b" ", 0, 10)
    if space <= 0 or payload[:space] not in METHODS:
        return None
    end = payload.find(b"\n", 0, HEAD_MAX_BYTES)
    line = payload[: end if end >= 0 else HEAD_MAX_BYTES].rstrip(b"\r")
    return line if line.endswith(b" SIP/2.0") else None


def wants(frame: Frame) -> bool:
    if frame.ip_proto not in (6, 17):
        return False
    return _start_line(frame.data[frame.payload_offset : frame.payload_offset + 512]) is not None


def _headers(payload: bytes) -> dict[str, bytes]:
    end = payload.find(b"\r\n\r\n", 0, HEAD_MAX_BYTES)
    head = payload[: end if end >= 0 else HEAD_MAX_BYTES]
    headers: dict[str, bytes] = {}
    for line in head.split(b"\n")[1 : HEADERS_MAX + 1]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower().decode("latin-1")
        key = _COMPACT.get(key, key)
        if key in _WANTED and key not in headers:
            headers[key] = value.strip()
    return headers


def uri_of(value: bytes) -> str:
    """The URI of a From/To/Contact value: `"Bob" <sip:bob@host>;tag=1` → "sip:bob@host"."""
    text = value.decode("utf-8", "replace")
    left = text.find("<")
    if left >= 0:
        right = text.find(">", left)
        uri = text[left + 1 : right if right >= 0 else len(text)]
    else:
        uri = text.split(";", 1)[0]
    uri = uri.strip()
    scheme, colon, rest = uri.partition(":")
    user, at, host = rest.partition("@")
    if colon and at and ":" in user:  # sip:user:password@host
        uri = f"{scheme}:{user.split(':', 1)[0]}@{host}"
    return uri


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """One observation for a datagram or segment that starts a SIP message; [] otherwise."""
    if frame.payload_offset >= len(frame.data):
        return []
    payload = frame.payload
    line = _start_line(payload)
    if line is None:
        return []  # keep-alives (RFC 5626 CRLF), TLS on 5061, message bodies
    headers = _headers(payload)
    cap = ctx.text_max_bytes
    facts: dict[str, FactValue] = {"transport": "tcp" if frame.is_tcp else "udp"}
    if line.startswith(b"SIP/2.0 "):
        parts = line.split(b" ", 2)
        if len(parts[1]) != 3 or not parts[1].isdigit():
            raise DecodeError("sip_status_code")
        role = Role.SERVER
        facts["status"] = int(parts[1])
        facts["reason"] = clean_text(parts[2] if len(parts) > 2 else b"", cap)
        facts["port"] = frame.src_port
        cseq = headers.get("cseq", b"").split()
        if len(cseq) == 2:
            facts["cseq_method"] = clean_text(cseq[1], 32)
        if facts.get("cseq_method") == "REGISTER":
            facts["register_status"] = facts["status"]  # RFC 3261 §10.3: from a registrar
        if "max-forwards" in headers:
            # RFC 3261 Table 2: Max-Forwards belongs to requests only. A response carrying it
            # copied the request's headers, so its User-Agent is the requester's (§20.41:
            # the UAC originating the request), not the responder's own.
            headers.pop("user-agent", None)
    else:
        parts = line.split(b" ")
        if len(parts) != 3:
            raise DecodeError("sip_request_line")
        role = Role.CLIENT
        facts["method"] = parts[0].decode("ascii")
    for key, fact in (("user-agent", "user_agent"), ("server", "server")):
        if key in headers:
            facts[fact] = clean_text(headers[key], cap)
    for key, fact in (("from", "from_uri"), ("to", "to_uri"), ("contact", "contact")):
        if key in headers:
            facts[fact] = clean_text(uri_of(headers[key]), cap)
    return [observe(frame, NAME, role, facts)]
