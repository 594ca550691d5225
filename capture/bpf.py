"""The kernel BPF filter of live capture: what reaches Python at all.

The filter admits the packets the extractors and detectors need and keeps bulk traffic (the
ACK-only segments of established TCP flows, media and QUIC streams) in the kernel. It is a
libpcap expression built from documented parts, compiled by libpcap (through scapy) for
Ethernet, and attached to the AF_PACKET socket by capture/sniffer.py.

Each part, and why:

- TCP control segments: every segment without ACK (SYN, FIN, NULL and Xmas probes), every RST,
  and SYN-ACK. Port scans, SYN/SYN-ACK fingerprints and services offered come from these.
  Expressed as "the ACK/SYN/RST bits are not exactly ACK" (flags & 0x16 != 0x10).
- ICMP echo request/reply and destination unreachable (sweeps, closed UDP ports); ICMPv6 echo,
  unreachable and neighbour discovery (133-137: routers and IPv6-only devices).
- Link layer: ARP, LLDP (EtherType 0x88cc), CDP (802.3 LLC/SNAP to 01:00:0c:cc:cc:cc).
- UDP to or from the discovery and management ports: every UDP port an extractor reads
  (capture/extractors/registry.py: DHCP 67/68, DHCPv6 546/547, mDNS 5353, SSDP 1900, NBNS 137,
  LLMNR 5355, WS-Discovery 3702, SLP 427, SNMP 161/162, NTP 123, SIP 5060, DNS 53, Kasa 9999,
  Edimax 20560, TiVo 2190 ...), in both directions because answers (SNMP responses, SSDP and
  Edimax replies) go to ephemeral ports; and UDP to any port below 1024 (UDP scans) except
  443, where QUIC streams would bring bulk data back in.
- The payload-bearing flows of the identity protocols: every TCP port an extractor reads,
  whole (Telnet 23/2323, SNMP 161, IPP 631, SIP 5060/5061, SLP 427, SCCP 2000, Kasa 9999,
  DNS 53 ...), except the ports of the extractors in TCP_BY_PAYLOAD, which carry bulk data
  and are admitted by their first bytes only; RFB ports 5900-5910 only for frames of at most
  300 bytes (the handshake; framebuffer updates stay out); and on any TCP port, segments whose
  payload starts a TLS handshake record with a ClientHello, ServerHello or Certificate
  (content type 22, handshake type 1, 2 or 11), a Telnet IAC (0xff), "RFB ", an HTTP/RTSP/SIP
  request line, an HTTP/SIP/RTSP status line, an XML declaration (a UPnP description whose
  HTTP head came in a segment of its own) or a PJL reply ("@PJL", or the UEL escape before
  it). HTTP on 80, 8080 and 443, RTSP on 554 and the raw print port 9100 are admitted this
  way, by their first bytes, so bulk HTTP, HTTPS, interleaved video and print-job data is
  not.
- The same again under one 802.1Q/802.1ad tag: `expr or (vlan and expr)`. (On a live socket
  the kernel strips the tag before the filter runs, so the first arm matches; the second one
  serves mirror ports that deliver tags in the frame.)

libpcap (1.10) compiles tcp[] and udp[] accessors for IPv4 only, so each TCP part has an IPv6
twin written with ip6[] offsets: it assumes the TCP header follows the fixed 40-byte IPv6
header (no extension headers), which holds for nearly all TCP over IPv6.

Documented gaps: bare-ACK sweeps (TCP ACK "ping" probes, nmap -sA) look like established
traffic and are not admitted. The filter has no state, so only the first segment of a
ClientHello larger than one segment passes (post-quantum key shares push browsers' hellos
past 1,500 bytes; the SNI may sit in the second segment), and of a server's flight only the
segments that start its ServerHello and Certificate records (as much of the certificate as
fits there: capture/extractors/tls.py reads the issuer and subject of a certificate cut
short); likewise HTTP headers continued in a second segment. A host whose only traffic is
bulk (a UDP media stream, TCP data without a handshake in view) is not seen at all. IPv6 TCP
behind extension headers is missed. Payload checks need the bytes they read, so a segment
shorter than 4 payload bytes only matches the 1-byte checks.
"""

from __future__ import annotations

import ctypes
import operator
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from capture.errors import CaptureError

LINKTYPE_ETHERNET = 1
# Linux's BPF_MAXINSNS for classic socket filters.
MAX_INSTRUCTIONS = 4096

# Extractors whose TCP ports carry bulk data: admitted by their first payload bytes
# (PAYLOAD_PREFIXES, the TLS hello check, the RFB frame size), never whole.
TCP_BY_PAYLOAD = frozenset({"http", "tls", "rfb", "pjl", "rtsp"})
# Ports admitted although no extractor reads them: SNMP over TCP (scans, agents).
_EXTRA_TCP_PORTS = frozenset({161})


def _extractor_ports() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(UDP ports, whole-flow TCP ports) of the registered extractors."""
    from capture.extractors.registry import EXTRACTORS

    udp: set[int] = set()
    tcp: set[int] = set(_EXTRA_TCP_PORTS)
    for module in EXTRACTORS:
        udp.update(module.UDP_PORTS)
        if module.NAME not in TCP_BY_PAYLOAD:
            tcp.update(module.TCP_PORTS)
    return tuple(sorted(udp)), tuple(sorted(tcp))


UDP_DISCOVERY_PORTS, TCP_IDENTITY_PORTS = _extractor_ports()
RFB_PORTS = (5900, 5910)
RFB_MAX_FRAME_BYTES = 300

# First four payload bytes of requests and status lines worth dissecting (big-endian words).
PAYLOAD_PREFIXES: dict[str, bytes] = {
    "http_get": b"GET ",
    "http_post": b"POST",
    "http_head": b"HEAD",
    "http_put": b"PUT ",
    "options": b"OPTI",  # HTTP, RTSP and SIP OPTIONS
    "rtsp_describe": b"DESC",  # RTSP DESCRIBE: a recorder or viewer pulling a camera's stream
    "http_status": b"HTTP",
    "rtsp_status": b"RTSP",
    "rfb": b"RFB ",
    "sip_register": b"REGI",
    "sip_invite": b"INVI",
    "sip_status": b"SIP/",
    "notify": b"NOTI",  # SIP and GENA NOTIFY
    "subscribe": b"SUBS",
    "xml_declaration": b"<?xm",  # a UPnP description body after its HTTP head came alone
    "pjl": b"@PJL",  # a PJL reply from a printer (capture/extractors/pjl.py)
    "pjl_uel": b"\x1b%-1",  # the UEL escape ("\x1b%-12345X") that may precede it
}


def _tcp_parts(flags: str, payload: str) -> list[str]:
    """TCP conditions given how to read the flags byte and the payload at a byte offset."""
    words = " or ".join(
        f"{payload.format(0)}:4] == 0x{prefix.hex()}" for prefix in PAYLOAD_PREFIXES.values()
    )
    return [
        f"{flags} & 0x16 != 0x10",  # not a bare ACK: SYN, FIN, NULL, Xmas, RST, SYN-ACK
        # Payload checks read bytes of the payload; a read past the end rejects the packet, so
        # the 1-byte checks come before the 4-byte ones.
        f"{payload.format(0)}] == 0xff",  # Telnet IAC
        # TLS handshake record (22) starting with a ClientHello (1), a ServerHello (2) or a
        # Certificate (11)
        f"({payload.format(0)}] == 0x16 and ({payload.format(5)}] == 0x01"
        f" or {payload.format(5)}] == 0x02 or {payload.format(5)}] == 0x0b))",
        f"({words})",
    ]


def _tcp4() -> str:
    parts = _tcp_parts("tcp[13]", "tcp[((tcp[12] & 0xf0) >> 2) + {}")
    return "(ip and tcp and (" + " or ".join([_tcp_ports(), *parts]) + "))"


def _tcp6() -> str:
    parts = _tcp_parts("ip6[53]", "ip6[40 + ((ip6[52] & 0xf0) >> 2) + {}")
    return "(ip6 and ip6[6] == 6 and (" + " or ".join([_tcp_ports(), *parts]) + "))"


def _tcp_ports() -> str:
    ports = " or ".join(str(p) for p in TCP_IDENTITY_PORTS)
    low, high = RFB_PORTS
    return f"port ({ports}) or (portrange {low}-{high} and len <= {RFB_MAX_FRAME_BYTES})"


def _udp() -> str:
    ports = " or ".join(str(p) for p in UDP_DISCOVERY_PORTS)
    return f"(udp and (port ({ports}) or dst portrange 0-442 or dst portrange 444-1023))"


ICMP = "(icmp and (icmp[0] == 0 or icmp[0] == 3 or icmp[0] == 8))"
ICMP6 = (
    "(icmp6 and (icmp6[0] == 1 or icmp6[0] == 128 or icmp6[0] == 129"
    " or (icmp6[0] >= 133 and icmp6[0] <= 137)))"
)
LINK_LAYER = "(arp or ether proto 0x88cc or ether dst 01:00:0c:cc:cc:cc)"


def build_filter() -> str:
    """The full expression: every part, then the same under one VLAN tag."""
    expr = "(" + " or ".join([LINK_LAYER, _tcp4(), _tcp6(), _udp(), ICMP, ICMP6]) + ")"
    return f"{expr} or (vlan and {expr})"


CAPTURE_FILTER = build_filter()


class Instruction(NamedTuple):
    """One classic BPF instruction (struct sock_filter)."""

    code: int
    jt: int
    jf: int
    k: int


_SOCK_FILTER = struct.Struct("=HBBI")
_BPF_RET_K = 0x06


def compile_bpf(
    expr: str, *, linktype: int = LINKTYPE_ETHERNET, snaplen: int | None = None
) -> tuple[Instruction, ...]:
    """Compile a libpcap expression into classic BPF instructions (libpcap via scapy).

    With `snaplen`, every accepting return is set to it, so the kernel itself truncates
    admitted packets to snaplen bytes.

    Raises:
        CaptureError: libpcap is missing, or it rejects the expression, or the program is
            longer than the kernel accepts.
    """
    # scapy is only a door to libpcap's pcap_compile() here (pcap_open_dead: no root needed).
    try:
        from scapy.arch.common import compile_filter
        from scapy.error import Scapy_Exception
    except ImportError as exc:  # pragma: no cover - scapy is a pinned dependency
        raise CaptureError(f"cannot compile the BPF filter: {exc}") from exc
    try:
        program = compile_filter(expr, linktype=linktype)
    except (ImportError, OSError, Scapy_Exception) as exc:
        raise CaptureError(f"cannot compile the BPF filter: {exc}") from exc
    out = []
    for i in range(program.bf_len):
        ins = program.bf_insns[i]
        k = ins.k
        if snaplen is not None and ins.code == _BPF_RET_K and k != 0:
            k = snaplen
        out.append(Instruction(ins.code, ins.jt, ins.jf, k))
    if len(out) > MAX_INSTRUCTIONS:
        raise CaptureError(f"BPF program has {len(out)} instructions (kernel limit 4096)")
    return tuple(out)


def program_bytes(program: Sequence[Instruction]) -> bytes:
    """The instructions as the kernel's struct sock_filter array."""
    return b"".join(_SOCK_FILTER.pack(*ins) for ins in program)


def pack_sock_fprog(program: Sequence[Instruction]) -> tuple[bytes, object]:
    """A struct sock_fprog for SO_ATTACH_FILTER, and the buffer it points to.

    Keep the second value alive until setsockopt() returns (the kernel copies it then).
    """
    raw = program_bytes(program)
    buffer = ctypes.create_string_buffer(raw, len(raw))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } (native alignment)
    fprog = struct.pack("HP", len(program), ctypes.addressof(buffer))
    return fprog, buffer


# -- a classic-BPF interpreter: what the kernel would do with a program on one packet --------
# It follows linux/filter.h and Documentation/networking/filter.rst: a load past the end of
# the packet ends the program with 0 (reject). `branchwatch inspect --live-filter` runs files
# through it; tests/capture/test_bpf.py checks the filter with it, and test_live.py checks the
# same program in the real kernel.

_M32 = 0xFFFFFFFF
_ALU: dict[int, Callable[[int, int], int]] = {
    0x00: operator.add,
    0x10: operator.sub,
    0x20: operator.mul,
    0x30: operator.floordiv,
    0x40: operator.or_,
    0x50: operator.and_,
    0x60: operator.lshift,
    0x70: operator.rshift,
    0x80: lambda a, _k: -a,
    0x90: operator.mod,
    0xA0: operator.xor,
}


def run_program(program: Sequence[Instruction], packet: bytes) -> int:
    """Classic BPF as the kernel runs it on a socket; returns the accepted length (0 = drop)."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    n = len(packet)

    def load(offset: int, size: int) -> int | None:
        if offset < 0 or offset + size > n:
            return None
        return int.from_bytes(packet[offset : offset + size], "big")

    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        cls = code & 0x07
        if cls in (0x00, 0x01):  # LD, LDX
            mode, size = code & 0xE0, {0x00: 4, 0x08: 2, 0x10: 1}[code & 0x18]
            if mode == 0x00:
                value: int | None = k
            elif mode == 0x20:
                value = load(k, size)
            elif mode == 0x40:
                value = load(x + k, size)
            elif mode == 0x60:
                value = mem[k]
            elif mode == 0x80:
                value = n
            elif mode == 0xA0:  # MSH: 4 * (P[k] & 0xf)
                byte = load(k, 1)
                value = None if byte is None else 4 * (byte & 0x0F)
            else:
                raise CaptureError(f"BPF: bad load mode {code:#x}")
            if value is None:
                return 0
            if cls == 0x00:
                a = value
            else:
                x = value
        elif cls == 0x02:
            mem[k] = a
        elif cls == 0x03:
            mem[k] = x
        elif cls == 0x04:  # ALU
            operand = x if code & 0x08 else k
            op = code & 0xF0
            if op in (0x30, 0x90) and operand == 0:
                return 0
            a = _ALU[op](a, operand) & _M32
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            if op == 0x00:
                pc += k
                continue
            operand = x if code & 0x08 else k
            taken = {
                0x10: a == operand,
                0x20: a > operand,
                0x30: a >= operand,
                0x40: bool(a & operand),
            }[op]
            pc += jt if taken else jf
        elif cls == 0x06:  # RET
            return {0x00: k, 0x08: x, 0x10: a}[code & 0x18]
        else:  # MISC
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x
