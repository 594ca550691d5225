"""RFB (VNC) handshakes: Frame → Observation about the VNC server.

RFC 6143 §7.1-7.2: both sides send "RFB xxx.yyy\\n" (the server first); then a 3.7+ server
lists its security types (U8 count, count × U8; a count of 0 is followed by a U32-length
failure reason) and the client picks one byte; a 3.3 server instead names the one type as a
U32 (0 = failure, followed by a reason). For type 2 (VNC Authentication) a 16-byte challenge
and response follow; SecurityResult is a U32 (0 OK, 1 failed; 3.8 adds a reason). For type
1 (None) a 3.8 server sends SecurityResult at once and older ones send nothing. Other types
(TLS 18, VeNCrypt 19, Apple ARD 30, ...) have their own exchanges, not followed here: their
result stays None. Versions above 3.8 (Apple's 003.889) use the 3.7+ exchange.

State per connection lives in ctx.flows (the server is the side that sent "RFB" first);
after the handshake the flow is marked done and framebuffer traffic costs one lookup.
Observations are about the server, emitted when its version, offered types, the client's
choice or the result become known; one more, about the client (the viewer), carries the
version line it answered with (`viewer_version`): Apple's Screen Sharing viewer answers
"RFB 003.889", which only Apple's implementation sends.

Added fact keys: `client_version`, `failure_reason` (text, capped), `port` (server port);
client: `viewer_version`.
"""

from __future__ import annotations

import re
from typing import Any

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, flow_of, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "rfb"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS = frozenset(range(5900, 5911))
SCAPY = False

SEC_INVALID, SEC_NONE, SEC_VNC_AUTH = 0, 1, 2
BUFFER_MAX = 4096  # handshake bytes kept per direction; more means it is not a handshake
_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")
_REASON = 1024  # a failure reason longer than this is cut (before ctx.text_max_bytes)


def wants(frame: Frame) -> bool:
    """A 12-byte segment holding exactly an RFB ProtocolVersion message."""
    off = frame.payload_offset
    return frame.is_tcp and len(frame.data) - off == 12 and frame.data[off : off + 4] == b"RFB "


def _parse_version(message: bytes) -> str:
    match = _VERSION.fullmatch(message)
    if match is None:
        raise DecodeError("rfb_version")
    return f"{match.group(1).decode()}.{match.group(2).decode()}"


def _is_new_style(version: str) -> bool:
    major, minor = (int(x) for x in version.split("."))
    return (major, minor) >= (3, 7)


def _take(state: dict[str, Any], side: str, n: int) -> bytes | None:
    buf: bytes = state[side]
    if len(buf) < n:
        return None
    state[side] = buf[n:]
    return buf[:n]


def _reason(state: dict[str, Any]) -> bool:
    """Reads a U32-length failure reason from the server; False while incomplete."""
    buf: bytes = state["s"]
    if len(buf) < 4:
        return False
    length = int.from_bytes(buf[:4], "big")
    if len(buf) < 4 + min(length, _REASON):
        return False
    state["facts"]["failure_reason"] = buf[4 : 4 + min(length, _REASON)]
    state["s"] = b""
    return True


def _step(state: dict[str, Any]) -> bool:
    """Advances the handshake as far as the buffered bytes allow; True when a fact changed."""
    facts: dict[str, Any] = state["facts"]
    stage: str = state["stage"]
    if stage == "server_version":
        message = _take(state, "s", 12)
        if message is None:
            return False
        facts["version"] = _parse_version(message)
        state["stage"] = "client_version"
        return True
    if stage == "client_version":
        message = _take(state, "c", 12)
        if message is None:
            return False
        facts["client_version"] = _parse_version(message)
        state["stage"] = "types" if _is_new_style(facts["version"]) else "type33"
        return True
    if stage == "types":
        buf: bytes = state["s"]
        if not buf or len(buf) < 1 + buf[0]:
            return False
        count = buf[0]
        facts["security_types"] = tuple(buf[1 : 1 + count])
        state["s"] = buf[1 + count :]
        if count == 0:
            facts["auth_result"] = "failed"
            state["stage"] = "reason"
        else:
            state["stage"] = "selected"
        return True
    if stage == "type33":
        message = _take(state, "s", 4)
        if message is None:
            return False
        chosen = int.from_bytes(message, "big")
        facts["security_types"] = (chosen,)
        facts["selected_type"] = chosen
        state["stage"] = _after_selection(state, chosen)
        return True
    if stage == "selected":
        message = _take(state, "c", 1)
        if message is None:
            return False
        facts["selected_type"] = message[0]
        state["stage"] = _after_selection(state, message[0])
        return True
    if stage == "challenge":  # VNC Authentication: 16 bytes each way, then the result
        if len(state["s"]) < 16 or len(state["c"]) < 16:
            return False
        state["s"], state["c"] = state["s"][16:], state["c"][16:]
        state["stage"] = "result"
        return _step(state)
    if stage == "result":
        message = _take(state, "s", 4)
        if message is None:
            return False
        ok = message == b"\x00\x00\x00\x00"
        facts["auth_result"] = "ok" if ok else "failed"
        state["stage"] = "done" if ok or facts["version"] < "003.008" else "reason"
        return True
    if stage == "reason":
        if not _reason(state):
            return False
        state["stage"] = "done"
        return True
    return False


def _after_selection(state: dict[str, Any], chosen: int) -> str:
    version: str = state["facts"]["version"]
    if chosen == SEC_INVALID:
        state["facts"]["auth_result"] = "failed"
        return "reason"
    if chosen == SEC_VNC_AUTH:
        return "challenge"
    if chosen == SEC_NONE and version >= "003.008":
        return "result"
    return "done"  # None before 3.8 (no result message) or a type not followed here


def _observation(
    frame: Frame, state: dict[str, Any], from_server: bool, ctx: ExtractContext
) -> Observation:
    facts: dict[str, FactValue] = {k: v for k, v in state["facts"].items() if k != "failure_reason"}
    reason = state["facts"].get("failure_reason")
    if reason is not None:
        facts["failure_reason"] = clean_text(reason, ctx.text_max_bytes)
    facts.setdefault("auth_result", None)
    facts["port"] = frame.src_port if from_server else frame.dst_port
    return Observation(
        at=frame.at,
        mac=state.get("mac") or (frame.src_mac if from_server else frame.dst_mac),
        ip=frame.src_ip if from_server else frame.dst_ip,
        vlan=frame.vlan,
        protocol=NAME,
        role=Role.SERVER,
        facts=facts,
        flow=flow_of(frame),
    )


def _flow_key(frame: Frame) -> tuple[object, ...]:
    a = (frame.src_ip or "", frame.src_port or 0)
    b = (frame.dst_ip or "", frame.dst_port or 0)
    return (NAME, frame.vlan, *min(a, b), *max(a, b))


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """An observation each time the handshake reveals something new about the server."""
    if not frame.is_tcp or frame.payload_offset >= len(frame.data):
        return []
    payload = frame.payload
    key = _flow_key(frame)
    state = ctx.flows.get(key, create=False)
    if state is None:
        if not payload.startswith(b"RFB "):
            return []
        if frame.dst_port in TCP_PORTS and frame.src_port not in TCP_PORTS:
            return []  # the client's version: the server's was missed, so was the start
        _parse_version(payload[:12])  # a server's first message, or it is not RFB
        state = ctx.flows.get(key)
        assert state is not None  # create=True always returns a dict
        state.update(
            server=(frame.src_ip, frame.src_port), stage="server_version", s=b"", c=b"", facts={}
        )
    if state["stage"] == "done":
        return []
    from_server = (frame.src_ip, frame.src_port) == state["server"]
    side = "s" if from_server else "c"
    state[side] += payload
    if len(state[side]) > BUFFER_MAX:
        state["stage"] = "done"
        return []
    if from_server and frame.src_mac:
        state["mac"] = frame.src_mac  # the server's own frames name its MAC
    before = _signature(state)
    had_viewer = "client_version" in state["facts"]
    while _step(state):
        pass
    if state["stage"] == "done":
        state["s"] = state["c"] = b""
    out: list[Observation] = []
    if not from_server and not had_viewer and "client_version" in state["facts"]:
        # The viewer's own version line: client software identity, like a User-Agent.
        viewer = {"viewer_version": state["facts"]["client_version"]}
        out.append(observe(frame, NAME, Role.CLIENT, viewer))
    if _signature(state) != before:
        out.append(_observation(frame, state, from_server, ctx))
    return out


def _signature(state: dict[str, Any]) -> tuple[object, ...]:
    """What is worth an observation: the client's version alone is not."""
    facts = state["facts"]
    return tuple(
        facts.get(k)
        for k in ("version", "security_types", "selected_type", "auth_result", "failure_reason")
    )
