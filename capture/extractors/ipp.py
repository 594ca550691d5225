"""IPP printer attributes in responses: Frame → Observation about the printer.

An IPP response travels as the body of an HTTP response with Content-Type application/ipp
(RFC 8010 §3, over HTTP per RFC 8010 §4 / RFC 3510 on port 631). The body is a version,
status code and request id, then attribute groups: each attribute is a value tag, a 2-byte
name length and name, a 2-byte value length and value; a name length of 0 adds a value to
the previous attribute (1setOf). Collections (begCollection 0x34 ... endCollection 0x37)
are skipped.

A Get-Printer-Attributes response runs to several segments (9-12 KB in the corpus) and is
often chunked (CUPS), so the body is decoded incrementally per flow (ctx.flows): chunked
framing removed, each complete attribute parsed and dropped, only the unparsed tail kept
(at most TAIL_MAX_BYTES; longer values of attributes we do not read are skipped unbuffered).
One observation is emitted when the body ends (Content-Length, last chunk,
end-of-attributes) or the stream breaks, if the response named the printer.

Facts (docs/observations.md): `make_and_model`, `firmware` (printer-firmware-string-version,
several values joined with ", "), `info`, `device_id` (IEEE 1284 device id), `uri`
(printer-uri-supported, a tuple). Added: `name`, `firmware_name`, `dns_sd_name`, `uuid`,
`more_info`, `port`.
"""

from __future__ import annotations

import struct
from typing import Any

from capture.errors import DecodeError
from capture.extractors import ExtractContext, http
from capture.extractors.emit import clean_text, observe
from capture.frame import TCP_FIN, TCP_RST, Frame
from capture.observation import FactValue, Observation, Role

NAME = "ipp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS = frozenset({631})
SCAPY = False

# printer attribute name → fact key (RFC 8011 §5.4, PWG 5100.13 for the firmware ones).
ATTRIBUTES = {
    b"printer-make-and-model": "make_and_model",
    b"printer-firmware-string-version": "firmware",
    b"printer-info": "info",
    b"printer-device-id": "device_id",
    b"printer-uri-supported": "uri",
    b"printer-name": "name",
    b"printer-firmware-name": "firmware_name",
    b"printer-dns-sd-name": "dns_sd_name",
    b"printer-uuid": "uuid",
    b"printer-more-info": "more_info",
}
_TUPLE_FACTS = frozenset({"uri"})
VALUES_MAX = 8  # values kept per attribute
TAIL_MAX_BYTES = 8192  # unparsed bytes kept between segments
END_OF_ATTRIBUTES = 0x03
BEG_COLLECTION, END_COLLECTION = 0x34, 0x37
TEXT_WITH_LANGUAGE, NAME_WITH_LANGUAGE = 0x35, 0x36
_U16 = struct.Struct("!H")


def wants(frame: Frame) -> bool:
    """An HTTP request or response head that carries application/ipp, on any port."""
    if not frame.is_tcp:
        return False
    head = frame.data[frame.payload_offset : frame.payload_offset + 1024]
    return (head.startswith((b"POST ", b"HTTP/1."))) and b"application/ipp" in head.lower()


class IppParser:
    """Incremental reader of one IPP message body: feed() bytes, read `values`."""

    def __init__(self) -> None:
        self.buf = b""
        self.header_done = False
        self.skip = 0  # bytes of an unwanted long value still to discard
        self.depth = 0  # collection nesting
        self.current: bytes = b""
        self.values: dict[str, list[bytes]] = {}
        self.ended = False

    def feed(self, data: bytes) -> None:
        """Consume `data`.

        Raises:
            DecodeError: the message header is not IPP/1.x or 2.x.
        """
        if self.ended:
            return
        if self.skip:
            dropped = min(self.skip, len(data))
            self.skip -= dropped
            data = data[dropped:]
        buf = self.buf + data
        if not self.header_done:
            if len(buf) < 8:
                self.buf = buf
                return
            if buf[0] not in (1, 2):
                raise DecodeError("ipp_version")
            self.header_done = True
            buf = buf[8:]
        self.buf = buf[self._parse(buf) :]
        if len(self.buf) > TAIL_MAX_BYTES:
            raise DecodeError("ipp_attribute_too_long")

    def _parse(self, buf: bytes) -> int:
        """Parses complete attributes from `buf`; returns how many bytes were used."""
        i, n = 0, len(buf)
        while i < n:
            tag = buf[i]
            if tag < 0x10:  # a delimiter: a group starts, or the attributes end
                if tag == END_OF_ATTRIBUTES:
                    self.ended = True
                    return n
                i += 1
                continue
            if i + 3 > n:
                return i
            name_len = _U16.unpack_from(buf, i + 1)[0]
            if i + 5 + name_len > n:
                return i
            name = buf[i + 3 : i + 3 + name_len]
            value_len = _U16.unpack_from(buf, i + 3 + name_len)[0]
            start = i + 5 + name_len
            if name_len:
                self.current = name
            wanted = self.depth == 0 and self.current in ATTRIBUTES and value_len <= TAIL_MAX_BYTES
            if start + value_len > n:
                if wanted or tag in (BEG_COLLECTION, END_COLLECTION):
                    return i  # wait for the rest of the value
                self.skip = start + value_len - n  # an unwanted long value: drop it
                return n
            if tag == BEG_COLLECTION:
                self.depth += 1
            elif tag == END_COLLECTION:
                self.depth = max(0, self.depth - 1)
            elif wanted:
                self._keep(tag, buf[start : start + value_len])
            i = start + value_len
        return i

    def _keep(self, tag: int, value: bytes) -> None:
        if tag in (TEXT_WITH_LANGUAGE, NAME_WITH_LANGUAGE) and len(value) >= 2:
            lang_len = _U16.unpack_from(value, 0)[0]
            value = value[4 + lang_len :]  # RFC 8010 §3.9: language, then the text
        kept = self.values.setdefault(ATTRIBUTES[self.current], [])
        if len(kept) < VALUES_MAX:
            kept.append(value)

    def facts(self, ctx: ExtractContext) -> dict[str, FactValue]:
        out: dict[str, FactValue] = {}
        for key, raw in self.values.items():
            texts = tuple(t for t in (clean_text(v, ctx.text_max_bytes) for v in raw) if t)
            if texts:
                out[key] = (
                    texts
                    if key in _TUPLE_FACTS
                    else clean_text(", ".join(texts), ctx.text_max_bytes)
                )
        return out


class ChunkDecoder:
    """Incremental HTTP/1.1 chunked transfer decoding (RFC 9112 §7.1)."""

    def __init__(self) -> None:
        self.line = b""
        self.remaining = 0  # data bytes left in the current chunk
        self.crlf = 0  # CR LF bytes to drop after a chunk's data
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes in `data`.

        Raises:
            DecodeError: a chunk-size line is not hexadecimal or too long.
        """
        out = bytearray()
        i, n = 0, len(data)
        while i < n and not self.ended:
            if self.remaining:
                take = min(self.remaining, n - i)
                out += data[i : i + take]
                self.remaining -= take
                i += take
                if not self.remaining:
                    self.crlf = 2
            elif self.crlf:
                skip = min(self.crlf, n - i)
                self.crlf -= skip
                i += skip
            else:
                end = data.find(b"\n", i)
                if end < 0:
                    self.line += data[i:]
                    if len(self.line) > 256:
                        raise DecodeError("http_chunk_size")
                    break
                line, self.line = self.line + data[i:end], b""
                i = end + 1
                size = line.split(b";", 1)[0].strip()
                try:
                    self.remaining = int(size, 16)
                except ValueError:
                    raise DecodeError("http_chunk_size") from None
                if self.remaining == 0:
                    self.ended = True
        return bytes(out)


def _start(frame: Frame, payload: bytes) -> dict[str, Any] | None:
    line, headers, body = http.split_head(payload)
    if body < 0 or b"application/ipp" not in headers.get("content-type", b"").lower():
        return None
    http.parse_status_line(line)
    state: dict[str, Any] = {"ipp": IppParser(), "received": 0, "length": None, "chunks": None}
    if b"chunked" in headers.get("transfer-encoding", b"").lower():
        state["chunks"] = ChunkDecoder()
    elif headers.get("content-length", b"").strip().isdigit():
        state["length"] = int(headers["content-length"])
    return state


def _feed(state: dict[str, Any], data: bytes) -> bool:
    """Feeds body bytes; True when the message is complete."""
    chunks: ChunkDecoder | None = state["chunks"]
    if chunks is not None:
        data = chunks.feed(data)
    state["received"] += len(data)
    parser: IppParser = state["ipp"]
    parser.feed(data)
    length = state["length"]
    return (
        parser.ended
        or (chunks is not None and chunks.ended)
        or (length is not None and state["received"] >= length)
    )


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """One observation per IPP response that names the printer, when its body is read."""
    if not frame.is_tcp:
        return []
    key = (NAME, frame.vlan, frame.src_ip, frame.src_port, frame.dst_ip, frame.dst_port)
    payload = frame.payload
    closing = bool((frame.tcp_flags or 0) & (TCP_FIN | TCP_RST))
    state = ctx.flows.get(key, create=False)
    if payload.startswith(b"HTTP/1."):
        fresh = _start(frame, payload)
        if fresh is None:
            if state is not None:
                ctx.flows.drop(key)
            return []
        state = ctx.flows.get(key)
        assert state is not None  # create=True always returns a dict
        state.clear()
        state.update(fresh)
        _, _, body = http.split_head(payload)
        payload = payload[body:]
    elif state is None:
        return []
    elif frame.tcp_seq != state["next_seq"]:
        ctx.flows.drop(key)  # a gap: report what was read
        return _emit(frame, state, ctx)
    state["next_seq"] = ((frame.tcp_seq or 0) + len(frame.payload)) & 0xFFFFFFFF
    try:
        complete = _feed(state, payload)
    except DecodeError:
        ctx.flows.drop(key)
        raise
    if complete or closing:
        ctx.flows.drop(key)
        return _emit(frame, state, ctx)
    return []


def _emit(frame: Frame, state: dict[str, Any], ctx: ExtractContext) -> list[Observation]:
    parser: IppParser = state["ipp"]
    facts = parser.facts(ctx)
    if not facts:
        return []
    facts["port"] = frame.src_port
    return [observe(frame, NAME, Role.SERVER, facts)]
