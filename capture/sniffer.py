"""Packet sources: capture files (pcap, pcapng) and live interfaces (AF_PACKET), as RawPacket.

This is the only module that opens an interface or a capture file. Both kinds of source yield
the same RawPacket, so a file replays through exactly the path live capture takes.

- `open_capture(path)` reads pcap (either byte order, micro- or nanosecond timestamps) and
  pcapng (SHB/IDB/EPB/SPB/OPB, several sections and interfaces, each with its own link type and
  if_tsresol) with a small struct reader of our own: it is fast, and it can say at which byte a
  file is corrupt. Everything before the damage is yielded first, then CaptureFileError.
- `LiveSource` is a raw AF_PACKET socket that only receives: the kernel BPF program (see
  capture/bpf.py) is attached before the socket is bound, promiscuous mode is a packet-socket
  membership (dropped with the socket), SO_RCVBUF is raised to the configured size (capped by
  net.core.rmem_max), PACKET_AUXDATA recovers the VLAN tag the kernel strips, and
  PACKET_STATISTICS gives the kernel's drop counter. It never sends.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from capture.bpf import compile_bpf, pack_sock_fprog
from capture.errors import CaptureError, CaptureFileError, CapturePermissionError

log = logging.getLogger(__name__)

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

_ETH_P_ALL = 0x0003
_ETH_P_8021Q = 0x8100
_ETH_P_8021AD = 0x88A8

# <linux/if_packet.h>, <asm-generic/socket.h>, <linux/filter.h>
_SOL_PACKET = 263
_PACKET_ADD_MEMBERSHIP = 1
_PACKET_MR_PROMISC = 1
_PACKET_STATISTICS = 6
_PACKET_AUXDATA = 8
_SO_ATTACH_FILTER = 26
_SO_TIMESTAMPNS = 35
_TP_STATUS_VLAN_VALID = 1 << 4
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
_TIMESPEC = struct.Struct("=qq")
_TPACKET_STATS = struct.Struct("=II")  # struct tpacket_stats (reading resets it)
_ARPHRD_TO_LINKTYPE = {1: LINKTYPE_ETHERNET, 772: LINKTYPE_ETHERNET, 65534: LINKTYPE_RAW}

_CHUNK_BYTES = 1 << 20
# A record claiming more than this is corruption, not a jumbo frame (pcap's own MAXIMUM_SNAPLEN).
_MAX_RECORD_BYTES = 262_144
_MAX_BLOCK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One captured frame as the source delivered it.

    `at` is UTC epoch seconds. `data` holds at most snaplen bytes of the frame; `wire_len` is
    its length on the wire. `vlan` is the outer 802.1Q VLAN id: from PACKET_AUXDATA when the
    kernel stripped the tag (live), or read from the frame when the tag is still in `data`.
    """

    at: float
    data: bytes
    linktype: int
    vlan: int | None
    wire_len: int


def _frame_vlan(data: bytes, linktype: int) -> int | None:
    if linktype == LINKTYPE_ETHERNET and len(data) >= 16:
        tpid = (data[12] << 8) | data[13]
        if tpid in (_ETH_P_8021Q, _ETH_P_8021AD):
            return ((data[14] << 8) | data[15]) & 0x0FFF
    return None


# ---------------------------------------------------------------------------------------------
# Capture files


class _ByteReader:
    """Buffered reads of exact sizes that know their absolute offset in the file."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._buf = b""
        self._pos = 0
        self._base = 0  # file offset of self._buf[0]

    @property
    def offset(self) -> int:
        return self._base + self._pos

    def read(self, size: int) -> bytes | None:
        """`size` bytes; fewer if the file ends first; None if it had already ended."""
        end = self._pos + size
        if end > len(self._buf):
            self._fill(size)
            end = self._pos + size
            if end > len(self._buf):
                rest = self._buf[self._pos :]
                self._pos = len(self._buf)
                return rest or None
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def _fill(self, size: int) -> None:
        self._base += self._pos
        self._buf = self._buf[self._pos :]
        self._pos = 0
        while len(self._buf) < size:
            more = self._fh.read(max(_CHUNK_BYTES, size - len(self._buf)))
            if not more:
                return
            self._buf += more


class CaptureReader:
    """Iterates the packets of a pcap or pcapng file; `bytes_read` follows progress."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: _ByteReader | None = None

    @property
    def bytes_read(self) -> int:
        return self._reader.offset if self._reader is not None else 0

    @property
    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def __iter__(self) -> Iterator[RawPacket]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise CaptureFileError(f"cannot open {self.path}: {exc.strerror}", 0) from exc
        try:
            self._reader = reader = _ByteReader(fh)
            magic = reader.read(4)
            if magic is None or len(magic) != 4:
                raise CaptureFileError("empty or truncated file header", 0)
            if magic == b"\x0a\x0d\x0d\x0a":
                yield from _read_pcapng(reader, magic)
            elif magic in _PCAP_MAGIC:
                yield from _read_pcap(reader, *_PCAP_MAGIC[magic])
            else:
                raise CaptureFileError("not a pcap or pcapng file (unknown magic number)", 0)
        except OSError as exc:
            if isinstance(exc, CaptureFileError):
                raise
            offset = self._reader.offset if self._reader is not None else 0
            raise CaptureFileError(f"read error: {exc.strerror}", offset) from exc
        finally:
            fh.close()


def open_capture(path: str | Path) -> Iterator[RawPacket]:
    """Yield every packet of a pcap or pcapng file, in file order.

    Raises:
        CaptureFileError: the file cannot be opened, is not a capture, or is truncated or
            corrupt; `offset` is where the damage starts. Packets before it are yielded first.
    """
    return iter(CaptureReader(path))


# magic bytes as stored -> (byte-order prefix, timestamp fraction units per second)
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}


def _read_pcap(reader: _ByteReader, order: str, units: int) -> Iterator[RawPacket]:
    """libpcap format: 24-byte file header, then 16-byte record headers, each before its data."""
    rest = reader.read(20)
    if rest is None or len(rest) != 20:
        raise CaptureFileError("truncated pcap file header", 0)
    _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", rest)
    linktype = network & 0xFFFF  # upper bits carry the FCS length, not the link type
    max_caplen = max(snaplen, _MAX_RECORD_BYTES)
    record = struct.Struct(order + "IIII")
    unpack = record.unpack
    scale = 1.0 / units
    while True:
        start = reader.offset
        header = reader.read(16)
        if header is None:
            return
        if len(header) != 16:
            raise CaptureFileError("truncated pcap record header", start)
        sec, frac, caplen, wire_len = unpack(header)
        if caplen > max_caplen:  # (a fraction ≥ 1 s is tolerated, as libpcap does)
            raise CaptureFileError("corrupt pcap record header", start)
        data = reader.read(caplen)
        if data is None or len(data) != caplen:
            raise CaptureFileError("truncated pcap packet data", start)
        yield RawPacket(sec + frac * scale, data, linktype, _frame_vlan(data, linktype), wire_len)


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    scale: float  # seconds per timestamp unit
    offset_s: int


_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_OPB = 0x00000002
_SPB = 0x00000003
_EPB = 0x00000006
_OPT_ENDOFOPT = 0
_IF_TSRESOL = 9
_IF_TSOFFSET = 14


def _read_pcapng(reader: _ByteReader, magic: bytes) -> Iterator[RawPacket]:
    """pcapng (draft-ietf-opsawg-pcapng): blocks of type, length, body, length; each section
    starts with a Section Header Block whose byte-order magic sets the order of the section."""
    order = "<"
    interfaces: list[_Interface] = []
    last_at = 0.0
    block_type_bytes: bytes | None = magic  # the first block's type was read to detect the format
    while True:
        start = reader.offset - (4 if block_type_bytes is not None else 0)
        if block_type_bytes is None:
            block_type_bytes = reader.read(4)
            if block_type_bytes is None:
                return
            if len(block_type_bytes) != 4:
                raise CaptureFileError("truncated pcapng block header", start)
        is_shb = block_type_bytes == b"\x0a\x0d\x0d\x0a"  # the same in either byte order
        fields = reader.read(8 if is_shb else 4)
        if fields is None or len(fields) != (8 if is_shb else 4):
            raise CaptureFileError("truncated pcapng block header", start)
        if is_shb:
            order = _section_order(fields[4:], start)
            interfaces = []
        (block_type,) = struct.unpack(order + "I", block_type_bytes)
        (total,) = struct.unpack_from(order + "I", fields)
        block_type_bytes = None
        if total < (28 if is_shb else 12) or total % 4 or total > _MAX_BLOCK_BYTES:
            raise CaptureFileError("corrupt pcapng block length", start)
        body_len = total - 12 - (4 if is_shb else 0)
        body = reader.read(body_len) if body_len else b""
        trailer = reader.read(4)
        if body is None or trailer is None or len(body) != body_len or len(trailer) != 4:
            raise CaptureFileError("truncated pcapng block", start)
        if struct.unpack(order + "I", trailer)[0] != total:
            raise CaptureFileError("corrupt pcapng block (trailing length differs)", start)
        if block_type == _IDB:
            interfaces.append(_parse_idb(body, order, start))
        elif block_type in (_EPB, _OPB, _SPB):
            at, data, iface, wire_len = _parse_packet_block(
                block_type, body, order, interfaces, start
            )
            if at is None:
                at = last_at  # an SPB carries no timestamp: keep time from going backwards
            last_at = at
            yield RawPacket(at, data, iface.linktype, _frame_vlan(data, iface.linktype), wire_len)
        # Other blocks (NRB, ISB, DSB, custom) carry nothing the sensor needs.


def _section_order(bom: bytes, start: int) -> str:
    if bom == b"\x4d\x3c\x2b\x1a":
        return "<"
    if bom == b"\x1a\x2b\x3c\x4d":
        return ">"
    raise CaptureFileError("corrupt pcapng section header (byte-order magic)", start)


def _parse_idb(body: bytes, order: str, start: int) -> _Interface:
    if len(body) < 8:
        raise CaptureFileError("corrupt pcapng interface description", start)
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    scale, offset_s = 1e-6, 0
    for code, value in _options(body, 8, order, start):
        if code == _IF_TSRESOL and len(value) >= 1:
            res = value[0]
            exponent = res & 0x7F
            if exponent > 63 if res & 0x80 else exponent > 18:
                raise CaptureFileError("corrupt pcapng if_tsresol", start)
            scale = 2.0**-exponent if res & 0x80 else 10.0**-exponent
        elif code == _IF_TSOFFSET and len(value) >= 8:
            (offset_s,) = struct.unpack_from(order + "q", value)
    return _Interface(linktype, snaplen, scale, offset_s)


def _options(body: bytes, pos: int, order: str, start: int) -> Iterator[tuple[int, bytes]]:
    header = struct.Struct(order + "HH")
    while pos + 4 <= len(body):
        code, length = header.unpack_from(body, pos)
        if code == _OPT_ENDOFOPT:
            return
        end = pos + 4 + length
        if end > len(body):
            raise CaptureFileError("corrupt pcapng option length", start)
        yield code, body[pos + 4 : end]
        pos = end + (-length % 4)


def _parse_packet_block(
    block_type: int, body: bytes, order: str, interfaces: list[_Interface], start: int
) -> tuple[float | None, bytes, _Interface, int]:
    if block_type == _SPB:
        if not interfaces or len(body) < 4:
            raise CaptureFileError("corrupt pcapng simple packet block", start)
        (wire_len,) = struct.unpack_from(order + "I", body)
        iface = interfaces[0]
        caplen = min(wire_len, len(body) - 4, iface.snaplen or wire_len)
        return None, body[4 : 4 + caplen], iface, wire_len
    if block_type == _EPB:
        if len(body) < 20:
            raise CaptureFileError("corrupt pcapng enhanced packet block", start)
        if_id, ts_high, ts_low, caplen, wire_len = struct.unpack_from(order + "IIIII", body)
        data_at = 20
    else:  # OPB (obsolete): 16-bit interface id and drop count
        if len(body) < 20:
            raise CaptureFileError("corrupt pcapng packet block", start)
        if_id, _drops, ts_high, ts_low, caplen, wire_len = struct.unpack_from(
            order + "HHIIII", body
        )
        data_at = 20
    if if_id >= len(interfaces):
        raise CaptureFileError("pcapng packet names an undefined interface", start)
    if data_at + caplen > len(body):
        raise CaptureFileError("corrupt pcapng packet length", start)
    iface = interfaces[if_id]
    at = ((ts_high << 32) | ts_low) * iface.scale + iface.offset_s
    return at, body[data_at : data_at + caplen], iface, wire_len


# ---------------------------------------------------------------------------------------------
# Live capture


@dataclass(frozen=True, slots=True)
class LiveStats:
    """Counters of a live source. `kernel_drops` are packets the socket buffer had no room for."""

    received: int
    kernel_packets: int
    kernel_drops: int
    rcvbuf_bytes: int


def _open_packet_socket(interface: str) -> socket.socket:
    """An AF_PACKET socket that receives nothing yet (protocol 0 until bound)."""
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError as exc:
        raise CapturePermissionError(
            f"live capture on {interface} needs CAP_NET_RAW "
            "(run as root, or grant the capability: AmbientCapabilities=CAP_NET_RAW)"
        ) from exc


def probe_capture_permission(interface: str) -> None:
    """Open and close a capture socket on `interface` (call in the main thread, before workers).

    Raises:
        CapturePermissionError: the process lacks CAP_NET_RAW.
        CaptureError: the interface does not exist.
    """
    sock = _open_packet_socket(interface)
    try:
        _bind(sock, interface)
    finally:
        sock.close()


def _bind(sock: socket.socket, interface: str) -> None:
    try:
        sock.bind((interface, _ETH_P_ALL))
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.ENXIO):
            raise CaptureError(f"capture interface {interface!r} does not exist") from exc
        if exc.errno == errno.EPERM:
            raise CapturePermissionError(f"live capture on {interface} needs CAP_NET_RAW") from exc
        raise CaptureError(f"cannot bind to {interface}: {exc.strerror}") from exc


class LiveSource:
    """Receive-only capture from one interface through a kernel BPF filter.

    Iterating blocks for packets; every `poll_interval_s` it checks whether stop() was called,
    so a stop request is honoured within that interval, and calls `on_idle` (if given) when no
    packet came in that interval: a quiet or unplugged mirror port is not a hung capture, and the
    daemon's watchdog gate needs that heartbeat. stop() is idempotent and may be called from
    any thread; the socket is closed when the iterator ends.
    """

    def __init__(
        self,
        interface: str,
        bpf_filter: str | None,
        rcvbuf_bytes: int,
        snaplen: int,
        promiscuous: bool,
        *,
        poll_interval_s: float = 0.25,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.interface = interface
        self.on_idle = on_idle
        self.bpf_filter = bpf_filter
        self.requested_rcvbuf_bytes = rcvbuf_bytes
        self.snaplen = snaplen
        self.promiscuous = promiscuous
        self.poll_interval_s = poll_interval_s
        self.rcvbuf_bytes = 0
        self._stopped = threading.Event()
        self._sock: socket.socket | None = None
        self._received = 0
        self._kernel_packets = 0
        self._kernel_drops = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the socket; packets queue in the kernel from here on. Idempotent."""
        if self._sock is not None:
            return
        sock = _open_packet_socket(self.interface)
        try:
            self._configure(sock)
            _bind(sock, self.interface)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        log.info(
            "capturing on %s (filter %s, receive buffer %d bytes)",
            self.interface,
            "on" if self.bpf_filter else "off",
            self.rcvbuf_bytes,
        )

    def _configure(self, sock: socket.socket) -> None:
        if self.bpf_filter:
            program = compile_bpf(self.bpf_filter, snaplen=self.snaplen)
            fprog, keepalive = pack_sock_fprog(program)
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
            del keepalive  # the kernel copied the instructions
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.requested_rcvbuf_bytes)
        # The kernel doubles the value (bookkeeping overhead) and caps it at net.core.rmem_max.
        self.rcvbuf_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if self.rcvbuf_bytes < 2 * self.requested_rcvbuf_bytes:
            log.warning(
                "receive buffer capped at %d bytes by net.core.rmem_max (asked %d): "
                "install the sysctl.d file shipped with the units",
                self.rcvbuf_bytes // 2,
                self.requested_rcvbuf_bytes,
            )
        sock.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        if self.promiscuous:
            try:
                ifindex = socket.if_nametoindex(self.interface)
            except OSError as exc:
                raise CaptureError(f"capture interface {self.interface!r} does not exist") from exc
            mreq = struct.pack("iHH8s", ifindex, _PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(_SOL_PACKET, _PACKET_ADD_MEMBERSHIP, mreq)
        sock.settimeout(self.poll_interval_s)

    def __iter__(self) -> Iterator[RawPacket]:
        self.open()
        sock = self._sock
        assert sock is not None
        ancbuf = socket.CMSG_SPACE(_AUXDATA.size) + socket.CMSG_SPACE(_TIMESPEC.size)
        try:
            while not self._stopped.is_set():
                try:
                    data, ancdata, _flags, address = sock.recvmsg(self.snaplen, ancbuf)
                except TimeoutError:
                    if self.on_idle is not None:
                        self.on_idle()
                    continue
                except OSError as exc:
                    if self._stopped.is_set():
                        break
                    raise CaptureError(f"receive on {self.interface}: {exc.strerror}") from exc
                self._received += 1
                yield self._packet(data, ancdata, address)
        finally:
            self._close()

    def _packet(
        self, data: bytes, ancdata: list[tuple[int, int, bytes]], address: tuple[object, ...]
    ) -> RawPacket:
        linktype = _ARPHRD_TO_LINKTYPE.get(int(address[3]), LINKTYPE_ETHERNET)  # type: ignore[call-overload]
        at: float | None = None
        wire_len = len(data)
        vlan = None
        for level, kind, value in ancdata:
            if level == _SOL_PACKET and kind == _PACKET_AUXDATA and len(value) >= _AUXDATA.size:
                status, tp_len, _snap, _mac, _net, tci, _tpid = _AUXDATA.unpack_from(value)
                wire_len = tp_len
                if status & _TP_STATUS_VLAN_VALID:
                    vlan = tci & 0x0FFF
            elif level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack_from(value)
                at = sec + nsec * 1e-9
        if vlan is None:
            vlan = _frame_vlan(data, linktype)
        if at is None:
            at = time.time()
        return RawPacket(at, data, linktype, vlan, wire_len)

    def stats(self) -> LiveStats:
        """Kernel counters so far (PACKET_STATISTICS resets on read, so they are accumulated)."""
        with self._lock:
            sock = self._sock
            if sock is not None:
                try:
                    raw = sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, _TPACKET_STATS.size)
                except OSError:
                    raw = b""
                if len(raw) == _TPACKET_STATS.size:
                    packets, drops = _TPACKET_STATS.unpack(raw)
                    self._kernel_packets += packets
                    self._kernel_drops += drops
            return LiveStats(
                self._received, self._kernel_packets, self._kernel_drops, self.rcvbuf_bytes
            )

    def stop(self) -> None:
        """Ask the iterator to end within poll_interval_s. Idempotent, any thread."""
        self._stopped.set()

    def close(self) -> None:
        """Stop and close the socket now (when nobody is iterating)."""
        self.stop()
        self._close()

    def _close(self) -> None:
        self.stats()  # keep the final kernel counters
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> LiveSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rmem_max_bytes() -> int | None:
    """net.core.rmem_max, the cap on SO_RCVBUF without CAP_NET_ADMIN (None if unreadable)."""
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text().strip())
    except (OSError, ValueError):
        return None


__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "CaptureReader",
    "LiveSource",
    "LiveStats",
    "RawPacket",
    "open_capture",
    "probe_capture_permission",
    "rmem_max_bytes",
]
