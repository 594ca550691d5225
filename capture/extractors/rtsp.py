"""RTSP message heads: Frame → Observation (a camera's answers, a viewer's or recorder's requests).

RTSP (RFC 2326 for 1.0, RFC 7826 for 2.0) borrows HTTP's message syntax: a request line
"DESCRIBE rtsp://camera/stream RTSP/1.0", a status line "RTSP/1.0 200 OK", then headers.
IP cameras and video recorders answer on TCP 554 (often 8554) the requests of the recorder
or viewer that pulls their streams; the answer's Server header names the camera's RTSP
stack ("Dahua Rtsp Server", "AvigilonOnvifNvt/2.6.0.130"), and a 401 carries the
WWW-Authenticate realm. Only message heads are read, from the segment that starts them; the
RTP media interleaved on the same connection is skipped by a prefix test.

Facts. Server (a response): `status` (int), `version` ("1.0"/"2.0"), `server`, `realm`,
`auth_scheme`, `port` (the server's TCP port). Client (a request): `method`, `version`,
`user_agent`. The request URL is never kept: it may carry credentials (rtsp://user:pass@...).
"""

from __future__ import annotations

import re

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.extractors.http import auth_facts, split_head
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "rtsp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS = frozenset({554, 8554})
SCAPY = False

# RFC 2326 §6.1 and RFC 7826 §13 methods.
METHODS = frozenset(
    b"DESCRIBE ANNOUNCE GET_PARAMETER OPTIONS PAUSE PLAY PLAY_NOTIFY RECORD REDIRECT SETUP "
    b"SET_PARAMETER TEARDOWN".split()
)
_STATUS = re.compile(rb"^RTSP/(1\.0|2\.0) (\d{3})(?: |$)")


def _request_method(payload: bytes) -> bytes | None:
    space = payload.find(b" ", 0, 16)
    method = payload[:space] if space > 0 else b""
    return method if method in METHODS else None


def is_rtsp_request(payload: bytes) -> bool:
    """A request line with an RTSP method and an rtsp:// URL, or "*" and an RTSP version
    ("OPTIONS * RTSP/1.0"; "OPTIONS * HTTP/1.1" is HTTP's)."""
    method = _request_method(payload)
    if method is None:
        return False
    target = payload[len(method) + 1 : len(method) + 9].lower()
    if target.startswith((b"rtsp://", b"rtsps://")):
        return True
    return target.startswith(b"* rtsp/")


def wants(frame: Frame) -> bool:
    if not frame.is_tcp:
        return False
    payload = frame.data[frame.payload_offset : frame.payload_offset + 24]
    return payload.startswith(b"RTSP/") or is_rtsp_request(payload)


def _text(value: bytes | None, ctx: ExtractContext) -> str | None:
    if value is None:
        return None
    return clean_text(value, ctx.text_max_bytes) or None


def _response(frame: Frame, payload: bytes, ctx: ExtractContext) -> Observation:
    line, headers, _ = split_head(payload)
    match = _STATUS.match(line)
    if match is None:
        raise DecodeError("rtsp_status_line")
    facts: dict[str, FactValue | None] = {
        "status": int(match.group(2)),
        "version": match.group(1).decode("ascii"),
        "server": _text(headers.get("server"), ctx),
        "port": frame.src_port,
    }
    facts.update(auth_facts(headers.get("www-authenticate"), ctx.text_max_bytes))
    return observe(frame, NAME, Role.SERVER, {k: v for k, v in facts.items() if v is not None})


def _request(frame: Frame, payload: bytes, ctx: ExtractContext) -> Observation:
    line, headers, _ = split_head(payload)
    parts = line.split(b" ")
    if len(parts) != 3 or parts[2] not in (b"RTSP/1.0", b"RTSP/2.0"):
        raise DecodeError("rtsp_request_line")
    facts: dict[str, FactValue | None] = {
        "method": parts[0].decode("ascii"),
        "version": parts[2][5:].decode("ascii"),
        "user_agent": _text(headers.get("user-agent"), ctx),
    }
    return observe(frame, NAME, Role.CLIENT, {k: v for k, v in facts.items() if v is not None})


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """An observation for a segment that starts an RTSP message; [] for media and the rest."""
    data, off = frame.data, frame.payload_offset
    if not frame.is_tcp or off >= len(data):
        return []
    head = data[off : off + 24]
    if head.startswith(b"RTSP/"):
        return [_response(frame, data[off:], ctx)]
    if is_rtsp_request(head):
        return [_request(frame, data[off:], ctx)]
    return []  # interleaved RTP ('$' framing), a continuation: not a message head
