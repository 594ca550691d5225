"""TLS handshakes: Frame → Observation. ClientHello (SNI, ALPN, offered versions, JA4
fingerprint); the server's first flight (chosen version; in TLS 1.2 and older its certificate).

The ClientHello is the first record a TLS client sends (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2
for TLS 1.2 and older). It normally fits one TCP segment; when it does not (post-quantum
key shares make Chrome's ~1.8 KB), the first segment is reported at once with `truncated`
and without `ja4` (a live sensor's filter admits no more of it, capture/bpf.py), and the rest
is collected from the next in-sequence segments of the same direction, in ctx.flows, up to
one record (16 KiB), for a full report. If the sequence breaks, what was read since is
reported the same way.

JA4 (FoxIO, BSD-3-Clause spec, technical_details/JA4.md): "t" + version + "d"/"i" (SNI or
not) + cipher count + extension count + first/last character of the first ALPN, "_", the
first 12 hex digits of the SHA-256 of the sorted cipher list, "_", the same of the sorted
extension list without SNI (0x0000) and ALPN (0x0010), then "_" and the signature
algorithms in wire order. GREASE values (RFC 8701) are ignored everywhere.

Added fact keys: `port` (the server port), `truncated` (bool, only when true).

The server's answer (role server): its ServerHello gives `tls_version` (the supported_versions
extension's choice in TLS 1.3, RFC 8446 §4.2.1, else the legacy field). Up to TLS 1.2 the
Certificate message follows in clear (RFC 5246 §7.4.2): the leaf certificate (the first of the
list) gives `cert_subject` and `cert_issuer` (RFC 4514 strings, most specific RDN first),
`cert_san` (its DNS names, at most 8) and `cert_self_signed` (subject == issuer). Handshake
records are collected in sequence from the ServerHello on, up to SERVER_FLIGHT_MAX bytes; the
observation is made at the certificate, at ServerHelloDone, at the first non-handshake record
(TLS 1.3 encrypts its certificate; a resumed session sends none), or when the stream breaks.

A live sensor gets only the segments of the flight that start a ServerHello or a Certificate
record: its kernel filter cannot tell the others from bulk data (capture/bpf.py). So when the
flight goes on past such a segment, the segment gives an observation at once: the version,
and the issuer and subject of a certificate cut there (capture/extractors/dername.py reads
them from its first bytes; the DNS names come at the certificate's end and wait for the
whole of it). The complete flight, when it arrives (a capture file), gives the full
observation as well.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from cryptography import x509

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.dername import certificate_names
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "tls"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
# HTTPS, IMAPS/POP3S/SMTPS, LDAPS, DNS over TLS, MQTT over TLS, Apple/Google push.
TCP_PORTS = frozenset({443, 465, 636, 853, 993, 995, 4433, 5223, 5228, 8443, 8883})
SCAPY = False

CONTENT_HANDSHAKE = 0x16
HANDSHAKE_CLIENT_HELLO = 0x01
HANDSHAKE_SERVER_HELLO = 0x02
HANDSHAKE_CERTIFICATE = 0x0B
HANDSHAKE_SERVER_HELLO_DONE = 0x0E
SERVER_FLIGHT_MAX = 16384  # bytes of the server's handshake records kept to find the certificate
SAN_MAX = 8
EXT_SNI = 0x0000
EXT_SIG_ALGS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B
RECORD_MAX_BYTES = 16384 + 5  # RFC 8446 §5.1: 2^14 bytes of plaintext plus the header
ALPN_MAX = 8

_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_VERSION_NAMES = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0", 0x0300: "ssl3"}
_U16 = struct.Struct("!H")


def is_grease(value: int) -> bool:
    """RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


@dataclass(slots=True)
class ClientHello:
    """What a ClientHello offers, in wire order, GREASE included."""

    version: int
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    sni: bytes | None = None
    alpn: list[bytes] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    truncated: bool = False


def _u16_list(data: bytes, start: int, end: int) -> list[int]:
    return [_U16.unpack_from(data, i)[0] for i in range(start, end - 1, 2)]


def _read_extension(hello: ClientHello, kind: int, data: bytes) -> None:
    n = len(data)
    if kind == EXT_SNI and n >= 5:
        end = min(n, 2 + _U16.unpack_from(data, 0)[0])
        i = 2
        while i + 3 <= end:
            name_type, length = data[i], _U16.unpack_from(data, i + 1)[0]
            if name_type == 0:  # host_name (RFC 6066 §3)
                hello.sni = data[i + 3 : i + 3 + length]
                break
            i += 3 + length
    elif kind == EXT_ALPN and n >= 2:
        end = min(n, 2 + _U16.unpack_from(data, 0)[0])
        i = 2
        while i < end and len(hello.alpn) < ALPN_MAX:
            length = data[i]
            hello.alpn.append(data[i + 1 : i + 1 + length])
            i += 1 + length
    elif kind == EXT_SUPPORTED_VERSIONS and n >= 1:
        hello.supported_versions = _u16_list(data, 1, min(n, 1 + data[0]))
    elif kind == EXT_SIG_ALGS and n >= 2:
        hello.signature_algorithms = _u16_list(data, 2, min(n, 2 + _U16.unpack_from(data, 0)[0]))


def parse_client_hello(body: bytes) -> ClientHello:
    """Parse a ClientHello handshake body (after the 4-byte handshake header).

    A body cut inside the extensions gives a result with `truncated` set.

    Raises:
        DecodeError: the body is cut before the extensions, or a length is inconsistent.
    """
    n = len(body)
    if n < 35:
        raise DecodeError("tls_hello_truncated")
    hello = ClientHello(version=_U16.unpack_from(body, 0)[0])
    off = 35 + body[34]  # version, random, session id
    if off + 2 > n:
        raise DecodeError("tls_hello_truncated")
    cs_len = _U16.unpack_from(body, off)[0]
    if cs_len % 2 or off + 2 + cs_len + 1 > n:
        raise DecodeError("tls_cipher_suites")
    hello.ciphers = _u16_list(body, off + 2, off + 2 + cs_len)
    off += 2 + cs_len
    off += 1 + body[off]  # compression methods
    if off > n:
        raise DecodeError("tls_compression_methods")
    if off + 2 > n:
        hello.truncated = off != n  # no extensions at all is valid (TLS 1.0 clients)
        return hello
    ext_end = off + 2 + _U16.unpack_from(body, off)[0]
    if ext_end > n:
        hello.truncated = True
        ext_end = n
    off += 2
    while off + 4 <= ext_end:
        kind, length = struct.unpack_from("!HH", body, off)
        if off + 4 + length > ext_end:
            hello.truncated = True
            break
        hello.extensions.append(kind)
        _read_extension(hello, kind, body[off + 4 : off + 4 + length])
        off += 4 + length
    if off != ext_end:
        hello.truncated = True
    return hello


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12] if text else "000000000000"


def _alpn_chars(alpn: list[bytes]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    first, last = alpn[0][0], alpn[0][-1]
    if (
        chr(first).isascii()
        and chr(first).isalnum()
        and chr(last).isascii()
        and chr(last).isalnum()
    ):
        return chr(first) + chr(last)
    return f"{first:02x}"[0] + f"{last:02x}"[1]  # JA4.md: hex of a non-alphanumeric ALPN


def best_version(hello: ClientHello) -> int:
    """The highest non-GREASE supported_versions value, else the legacy version field."""
    offered = [v for v in hello.supported_versions if not is_grease(v)]
    return max(offered) if offered else hello.version


def ja4(hello: ClientHello, transport: str = "t") -> str:
    """The JA4 fingerprint of a complete ClientHello."""
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    extensions = [e for e in hello.extensions if not is_grease(e)]
    version = _JA4_VERSIONS.get(best_version(hello), "00")
    a = (
        f"{transport}{version}{'d' if EXT_SNI in extensions else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{_alpn_chars(hello.alpn)}"
    )
    b = _hash12(",".join(sorted(f"{c:04x}" for c in ciphers)))
    ext_text = ",".join(sorted(f"{e:04x}" for e in extensions if e not in (EXT_SNI, EXT_ALPN)))
    sigs = [s for s in hello.signature_algorithms if not is_grease(s)]
    if sigs:
        ext_text += "_" + ",".join(f"{s:04x}" for s in sigs)
    return f"{a}_{b}_{_hash12(ext_text)}"


def _handshake_start(payload: bytes) -> int | None:
    """The handshake type a TLS handshake record starting `payload` opens with, else None."""
    if (
        len(payload) >= 6
        and payload[0] == CONTENT_HANDSHAKE
        and payload[1] == 3
        and payload[2] <= 4
    ):
        return payload[5]
    return None


def _is_hello_start(payload: bytes) -> bool:
    return _handshake_start(payload) == HANDSHAKE_CLIENT_HELLO


def _is_server_hello_start(payload: bytes) -> bool:
    return _handshake_start(payload) == HANDSHAKE_SERVER_HELLO


def wants(frame: Frame) -> bool:
    if not frame.is_tcp:
        return False
    kind = _handshake_start(frame.data[frame.payload_offset : frame.payload_offset + 6])
    return kind in (HANDSHAKE_CLIENT_HELLO, HANDSHAKE_SERVER_HELLO)


@dataclass(slots=True)
class ServerFlight:
    """What the server's handshake records said so far."""

    version: int | None = None
    cert_der: bytes | None = None
    cert_prefix: bytes | None = None  # the leaf certificate's first bytes, while it is cut
    done: bool = False  # nothing more to read in clear


def _server_version(body: bytes) -> int:
    """The version a ServerHello body chose (RFC 8446 §4.1.3, §4.2.1)."""
    if len(body) < 38:
        raise DecodeError("tls_server_hello_truncated")
    version = int(_U16.unpack_from(body, 0)[0])
    off = 35 + body[34] + 3  # version, random, session id, cipher suite, compression
    if off + 2 > len(body):
        return version  # no extensions (TLS 1.0-1.2)
    end = min(len(body), off + 2 + _U16.unpack_from(body, off)[0])
    off += 2
    while off + 4 <= end:
        kind, length = struct.unpack_from("!HH", body, off)
        if kind == EXT_SUPPORTED_VERSIONS and length == 2 and off + 6 <= end:
            return int(_U16.unpack_from(body, off + 4)[0])
        off += 4 + length
    return version


def _leaf_certificate(body: bytes) -> bytes:
    """The first certificate of a TLS 1.2 Certificate message body (RFC 5246 §7.4.2)."""
    if len(body) < 6:
        raise DecodeError("tls_certificate_truncated")
    total = int.from_bytes(body[0:3], "big")
    first = int.from_bytes(body[3:6], "big")
    if first == 0 or 6 + first > len(body) or 3 + total > len(body) or first + 3 > total:
        raise DecodeError("tls_certificate_length")
    return body[6 : 6 + first]


def scan_server_flight(buf: bytes) -> ServerFlight:
    """Walk the server's records in `buf` for its version and leaf certificate.

    Handshake messages are read from complete records and from the part of a record still
    arriving; a message is used only once it is complete.
    """
    flight = ServerFlight()
    messages = bytearray()
    off, n = 0, len(buf)
    while off + 5 <= n:
        if buf[off] != CONTENT_HANDSHAKE:
            flight.done = True  # ChangeCipherSpec or encrypted data: no more handshake in clear
            break
        end = off + 5 + _U16.unpack_from(buf, off + 3)[0]
        messages += buf[off + 5 : min(end, n)]  # a record still arriving: its complete messages
        if end > n:
            break
        off = end
    i = 0
    while i + 4 <= len(messages):
        kind = messages[i]
        length = int.from_bytes(messages[i + 1 : i + 4], "big")
        if i + 4 + length > len(messages):
            if kind == HANDSHAKE_CERTIFICATE:
                flight.cert_prefix = bytes(messages[i + 4 + 6 : i + 4 + length])
            break
        body = bytes(messages[i + 4 : i + 4 + length])
        if kind == HANDSHAKE_SERVER_HELLO:
            flight.version = _server_version(body)
            if flight.version == 0x0304:
                flight.done = True  # the rest of a TLS 1.3 handshake is encrypted
                return flight
        elif kind == HANDSHAKE_CERTIFICATE:
            flight.cert_der = _leaf_certificate(body)
            flight.done = True
            return flight
        elif kind == HANDSHAKE_SERVER_HELLO_DONE:
            flight.done = True
            return flight
        i += 4 + length
    return flight


def certificate_facts(der: bytes, max_bytes: int) -> dict[str, FactValue]:
    """Subject, issuer and DNS names of a DER certificate.

    Raises:
        DecodeError: not a certificate `cryptography` can read.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = san.value.get_values_for_type(x509.DNSName)[:SAN_MAX]
        except x509.ExtensionNotFound:
            names = []
    except (ValueError, TypeError, UnicodeError) as exc:
        raise DecodeError("tls_certificate") from exc
    return {
        "cert_subject": clean_text(subject, max_bytes),
        "cert_issuer": clean_text(issuer, max_bytes),
        "cert_san": tuple(clean_text(name, max_bytes) for name in names),
        "cert_self_signed": cert.subject == cert.issuer,
    }


def _server_observation(frame: Frame, buf: bytes, ctx: ExtractContext) -> list[Observation]:
    flight = scan_server_flight(buf)
    if flight.version is None:
        return []
    facts: dict[str, FactValue] = {
        "tls_version": _VERSION_NAMES.get(flight.version, f"0x{flight.version:04x}"),
        "port": frame.src_port,
    }
    if flight.cert_der is not None:
        facts.update(certificate_facts(flight.cert_der, ctx.text_max_bytes))
    elif flight.cert_prefix:
        names = certificate_names(flight.cert_prefix)
        if names.issuer is not None:
            facts["cert_issuer"] = clean_text(names.issuer, ctx.text_max_bytes)
        if names.subject is not None:
            facts["cert_subject"] = clean_text(names.subject, ctx.text_max_bytes)
            facts["cert_self_signed"] = bool(names.self_signed)
    return [observe(frame, NAME, Role.SERVER, facts)]


def _server_flow_key(frame: Frame) -> tuple[object, ...]:
    return ("tls-server", frame.vlan, frame.src_ip, frame.src_port, frame.dst_ip, frame.dst_port)


def _server_extract(frame: Frame, ctx: ExtractContext, start: bool) -> list[Observation] | None:
    """The server flight's part of `extract`; None when this frame is not part of one."""
    key = _server_flow_key(frame)
    payload = frame.payload
    if start:
        ctx.flows.drop(key)
        buf = payload
    else:
        state = ctx.flows.get(key, create=False)
        if state is None:
            return None
        if frame.tcp_seq != state["next_seq"]:  # lost or reordered: report what was read
            ctx.flows.drop(key)
            return _server_observation(frame, state["buf"], ctx)
        buf = state["buf"] + payload
    flight = scan_server_flight(buf)
    if flight.done or len(buf) >= SERVER_FLIGHT_MAX or frame.tcp_seq is None:
        ctx.flows.drop(key)
        return _server_observation(frame, buf[:SERVER_FLIGHT_MAX], ctx)
    state = ctx.flows.get(key)
    assert state is not None  # create=True always returns a dict
    state.update(buf=buf, next_seq=(frame.tcp_seq + len(payload)) & 0xFFFFFFFF)
    if start or _handshake_start(payload) == HANDSHAKE_CERTIFICATE:
        # The live filter admits the segments that start a ServerHello or a Certificate
        # record, and no other part of the flight: report what it says now.
        return _server_observation(frame, buf, ctx)
    return []


def _observation(frame: Frame, record: bytes, ctx: ExtractContext) -> Observation:
    """Facts of the ClientHello in `record` (a TLS record, possibly cut short)."""
    if len(record) < 9:
        raise DecodeError("tls_hello_truncated")
    hs_len = int.from_bytes(record[6:9], "big")
    body = record[9 : 9 + hs_len]
    hello = parse_client_hello(body)
    if len(body) < hs_len:
        hello.truncated = True
    version = best_version(hello)
    facts: dict[str, FactValue] = {
        "tls_version": _VERSION_NAMES.get(version, f"0x{version:04x}"),
        "alpn": tuple(clean_text(p, 64) for p in hello.alpn),
        "port": frame.dst_port,
    }
    if hello.sni is not None:
        facts["sni"] = clean_text(hello.sni, ctx.text_max_bytes)
    if hello.truncated:
        facts["truncated"] = True
    else:
        facts["ja4"] = ja4(hello)
    return observe(frame, NAME, Role.CLIENT, facts)


def _flow_key(frame: Frame) -> tuple[object, ...]:
    return (NAME, frame.vlan, frame.src_ip, frame.src_port, frame.dst_ip, frame.dst_port)


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """An observation per ClientHello, once the whole record is seen (or the stream breaks)."""
    data, off = frame.data, frame.payload_offset
    if not frame.is_tcp or off >= len(data):
        return []
    head = data[off : off + 6]
    if _is_server_hello_start(head):
        return _server_extract(frame, ctx, start=True) or []
    server = _server_extract(frame, ctx, start=False)
    if server is not None:
        return server
    key = _flow_key(frame)
    if _is_hello_start(head):
        payload = frame.payload
        ctx.flows.drop(key)
        need = 5 + _U16.unpack_from(payload, 3)[0]
        if len(payload) >= need or frame.tcp_seq is None or need > RECORD_MAX_BYTES:
            return [_observation(frame, payload[:need], ctx)]
        state = ctx.flows.get(key)
        assert state is not None  # create=True always returns a dict
        state.update(buf=payload, need=need, next_seq=(frame.tcp_seq + len(payload)) & 0xFFFFFFFF)
        # A live sensor's filter admits no more of this hello: report the part read now,
        # unless it ends before the cipher suites (nothing worth a report; not an error).
        state["reported"] = len(payload)
        try:
            return [_observation(frame, payload, ctx)]
        except DecodeError:
            state["reported"] = 0
            return []
    state = ctx.flows.get(key, create=False)
    if state is None:
        return []  # application data: the common case, no copy made
    payload = frame.payload
    buf: bytes = state["buf"]
    if frame.tcp_seq != state["next_seq"]:  # lost or reordered: report what was read
        ctx.flows.drop(key)
        return [_observation(frame, buf, ctx)] if len(buf) > state["reported"] else []
    buf += payload
    if len(buf) < state["need"]:
        state.update(buf=buf, next_seq=(state["next_seq"] + len(payload)) & 0xFFFFFFFF)
        return []
    ctx.flows.drop(key)
    return [_observation(frame, buf[: state["need"]], ctx)]
