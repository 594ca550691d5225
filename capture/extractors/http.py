"""HTTP/1.x message heads: Frame → Observation (client requests, server responses).

Only the head of a message is read, from the segment that starts it: the request line and
Host / User-Agent for a request; the status line and Server / WWW-Authenticate / Content-Type
for a response. Bodies and continuation segments are skipped with a prefix test, so the
common case (bulk data on port 80) costs a few byte comparisons. Offered any TCP port through
wants(): a payload starting with a method and a space, or with "HTTP/1.".

One body is read: a 200 response that looks like a UPnP device description (XML content
type, a body starting with the XML declaration or <root>) is collected per flow, in sequence
order and up to upnpdesc.BODY_MAX_BYTES, until the root device's identity elements have
arrived (capture/extractors/upnpdesc.py); a gap in the sequence gives the flow up. Chunked
bodies are not decoded (their first bytes are a chunk size, so they are never collected).

Never kept: query strings (they carry tokens), cookies, Authorization headers.
Added fact keys (beyond docs/observations.md): `auth_scheme` (first token of
WWW-Authenticate, e.g. "Basic"), `port` (the server's TCP port, responses only),
`version` ("1.0"/"1.1"), `upnp_*` (the description's root device, responses).
"""

from __future__ import annotations

import re

from capture.errors import DecodeError
from capture.extractors import ExtractContext, upnpdesc
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "http"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
# Plain-HTTP ports of devices: web UIs, UPnP description/control servers, CUPS/IPP (631).
TCP_PORTS = frozenset({80, 591, 631, 5000, 7547, 8000, 8008, 8080, 8081, 8888, 49152, 49153})
SCAPY = False

# RFC 9110 §9 methods, WebDAV (RFC 4918) and UPnP GENA (UPnP Device Architecture 2.0 §4).
METHODS = frozenset(
    b"GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH PROPFIND PROPPATCH MKCOL COPY "
    b"MOVE LOCK UNLOCK REPORT SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE M-SEARCH".split()
)
HEAD_MAX_BYTES = 8192  # a head longer than this is read up to here only
HEADERS_MAX = 64
_REALM = re.compile(r'realm\s*=\s*(?:"([^"]*)"|([^\s,]+))', re.IGNORECASE)


def is_request_start(payload: bytes) -> bool:
    """True when the payload starts with an HTTP method token followed by a space."""
    space = payload.find(b" ", 0, 12)
    return space > 0 and payload[:space] in METHODS


def wants(frame: Frame) -> bool:
    if not frame.is_tcp:
        return False
    payload = frame.data[frame.payload_offset : frame.payload_offset + 12]
    return payload.startswith(b"HTTP/1.") or is_request_start(payload)


def split_head(payload: bytes) -> tuple[bytes, dict[str, bytes], int]:
    """Start line, headers (lower-case name → first value) and body offset of a message head.

    The body offset is -1 when the head does not end inside `payload` (or the bound).

    Raises:
        DecodeError: the start line does not end within the head bound.
    """
    end = payload.find(b"\r\n\r\n", 0, HEAD_MAX_BYTES)
    body = end + 4 if end >= 0 else -1
    head = payload[: end if end >= 0 else HEAD_MAX_BYTES]
    lines = head.split(b"\n")
    if len(lines) < 2 and end < 0:
        raise DecodeError("http_line_truncated")
    headers: dict[str, bytes] = {}
    for line in lines[1 : HEADERS_MAX + 1]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[:1] in b" \t":
            continue  # obsolete line folding or junk: skipped, never fatal
        key = name.strip().lower().decode("latin-1")
        if key not in headers:
            headers[key] = value.strip()
    return lines[0].rstrip(b"\r"), headers, body


def _text(value: bytes | None, ctx: ExtractContext) -> str | None:
    if value is None:
        return None
    return clean_text(value, ctx.text_max_bytes) or None


def parse_status_line(line: bytes) -> tuple[str, int]:
    """(version, status) of "HTTP/1.1 200 OK".

    Raises:
        DecodeError: not an HTTP/1.x status line with a 3-digit code.
    """
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[0]) != 8:
        raise DecodeError("http_status_line")
    code = parts[1]
    if len(code) != 3 or not code.isdigit():
        raise DecodeError("http_status_code")
    return parts[0][5:].decode("ascii", "replace"), int(code)


def auth_facts(auth: bytes | None, max_bytes: int) -> dict[str, FactValue]:
    """`auth_scheme` and `realm` of a WWW-Authenticate value (RFC 9110 §11.6.1); also RTSP's."""
    if auth is None:
        return {}
    value = auth.decode("latin-1")
    facts: dict[str, FactValue] = {}
    scheme = clean_text(value.split(" ", 1)[0], 32)
    if scheme:
        facts["auth_scheme"] = scheme
    realm = _REALM.search(value)
    if realm is not None:
        facts["realm"] = clean_text(realm.group(1) or realm.group(2) or "", max_bytes)
    return facts


def _response(frame: Frame, payload: bytes, ctx: ExtractContext) -> Observation:
    line, headers, body_at = split_head(payload)
    version, status = parse_status_line(line)
    facts: dict[str, FactValue] = {
        "status": status,
        "version": version,
        "server": _text(headers.get("server"), ctx),
        "content_type": _text(headers.get("content-type"), ctx),
        "port": frame.src_port,
    }
    facts.update(auth_facts(headers.get("www-authenticate"), ctx.text_max_bytes))
    if status == 200 and body_at >= 0:
        facts.update(_start_description(frame, headers, payload[body_at:], ctx))
    return observe(frame, NAME, Role.SERVER, {k: v for k, v in facts.items() if v is not None})


# --- UPnP device descriptions (capture/extractors/upnpdesc.py) ----------------------------


def _description_key(frame: Frame) -> tuple[object, ...]:
    return (
        "upnp-description",
        frame.vlan,
        frame.src_ip,
        frame.src_port,
        frame.dst_ip,
        frame.dst_port,
    )


def _start_description(
    frame: Frame, headers: dict[str, bytes], body: bytes, ctx: ExtractContext
) -> dict[str, FactValue]:
    """Root-device facts of a description whole in this response; else {} (body collected).

    Only a response that looks like a description (XML content type, a body starting with
    the XML declaration or <root>) is collected, per flow, up to upnpdesc.BODY_MAX_BYTES.
    """
    if not upnpdesc.is_description_start(headers.get("content-type"), body[:64]):
        return {}
    length = _content_length(headers.get("content-length"))
    body = body[: upnpdesc.BODY_MAX_BYTES]
    facts = _finish_description(body, length)
    if facts is not None or frame.tcp_seq is None:
        return dict(facts or {})
    state = ctx.flows.get(_description_key(frame))
    assert state is not None  # create=True always returns a state
    state.clear()
    state["body"] = body
    state["next_seq"] = (frame.tcp_seq + len(frame.data) - frame.payload_offset) & 0xFFFFFFFF
    state["length"] = length
    # A live sensor gets no more of this response (capture/bpf.py): what is here now.
    return dict(upnpdesc.root_device(body, complete=True) or {})


def _continue_description(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """A later segment of a description being collected: append it, emit when complete."""
    key = _description_key(frame)
    state = ctx.flows.get(key, create=False)
    if state is None or "next_seq" not in state:
        return []
    if frame.tcp_seq != state["next_seq"]:
        if frame.tcp_seq is not None and (state["next_seq"] - frame.tcp_seq) & 0xFFFFFFFF < 1 << 31:
            return []  # a retransmission of what we have: keep waiting
        ctx.flows.drop(key)  # a gap (lost or reordered segment): give this one up
        return []
    segment = frame.data[frame.payload_offset :]
    body: bytes = state["body"] + segment[: upnpdesc.BODY_MAX_BYTES - len(state["body"])]
    facts = _finish_description(body, state["length"])
    if facts is None:
        state["body"] = body
        state["next_seq"] = (state["next_seq"] + len(segment)) & 0xFFFFFFFF
        if not segment.startswith(upnpdesc.XML_DECLARATION):
            return []
        # The body's first segment after a head that came alone: the live filter admits it
        # by its XML declaration, and no more of the body. Report what it holds now.
        partial = upnpdesc.root_device(body, complete=True)
        if not partial:
            return []
        return [observe(frame, NAME, Role.SERVER, {**partial, "port": frame.src_port})]
    ctx.flows.drop(key)
    if not facts:
        return []
    return [observe(frame, NAME, Role.SERVER, {**facts, "port": frame.src_port})]


def _finish_description(body: bytes, length: int | None) -> dict[str, str] | None:
    complete = len(body) >= upnpdesc.BODY_MAX_BYTES or (length is not None and len(body) >= length)
    return upnpdesc.root_device(body, complete=complete)


def _content_length(value: bytes | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _request(frame: Frame, payload: bytes, ctx: ExtractContext) -> list[Observation]:
    line, headers, _ = split_head(payload)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise DecodeError("http_request_line")
    method, target, version = parts
    if not version.startswith(b"HTTP/1.") or len(version) != 8:
        if version.startswith((b"SIP/", b"RTSP/")):
            return []  # SIP and RTSP share the request syntax; their own modules read them
        raise DecodeError("http_version")
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    facts: dict[str, FactValue] = {
        "method": method.decode("ascii"),
        "path": clean_text(path, ctx.text_max_bytes),
        "version": version[5:].decode("ascii", "replace"),
        "host": _text(headers.get("host"), ctx),
        "user_agent": _text(headers.get("user-agent"), ctx),
    }
    facts = {k: v for k, v in facts.items() if v is not None}
    return [observe(frame, NAME, Role.CLIENT, facts)]


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """An observation for a segment that starts an HTTP request or response; [] otherwise."""
    data, off = frame.data, frame.payload_offset
    if not frame.is_tcp or off >= len(data):
        return []
    # Cheap test on the first bytes before copying anything: most segments are bodies.
    if data.startswith(b"HTTP/", off):
        return [_response(frame, data[off : off + HEAD_MAX_BYTES + 4], ctx)]
    if is_request_start(data[off : off + 12]):
        head = data[off : off + HEAD_MAX_BYTES + 4]
        if b"\n" not in head and len(head) < HEAD_MAX_BYTES:
            return []  # a request line longer than this segment: its head is not here
        return _request(frame, head, ctx)
    if ctx.flows:
        return _continue_description(frame, ctx)
    return []
