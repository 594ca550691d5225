"""DNS wire-format parser (RFC 1035) shared by the mdns, dns, nbns and llmnr extractors.

bytes → Message. No scapy: DNS and mDNS are the most frequent identity packets, so this
parser is small and allocation-light. It reads names with compression pointers (RFC 1035
§4.1.4), guarded against loops: a pointer must point before the label that holds it and at
most MAX_POINTERS are followed per name. Questions and resource records of all sections
are read; rdata is decoded for A, AAAA, PTR, CNAME, NS, SRV and TXT and kept as bytes
otherwise.

Devices send broken records (python-zeroconf's tests quote several), so a record that
fails to parse ends parsing: the Message keeps what was read before it and names the
reason in `error`. Only a message with nothing usable raises DecodeError.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from capture.errors import DecodeError

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_PTR = 12
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_NB = 32  # NetBIOS general name service resource record (RFC 1002 §4.2.1.3)
TYPE_ANY = 255

HEADER_LEN = 12
MAX_NAME_LEN = 255  # RFC 1035 §2.3.4
MAX_POINTERS = 16
MAX_RECORDS = 64  # per message; a cap on work, not a protocol limit

Name = tuple[str, ...]
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_QUESTION_FIXED = struct.Struct("!HH")
_SRV_FIXED = struct.Struct("!HHH")


@dataclass(frozen=True, slots=True)
class Question:
    name: Name
    qtype: int
    qclass: int  # without the mDNS unicast-response bit
    unicast_response: bool


@dataclass(frozen=True, slots=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: Name


@dataclass(frozen=True, slots=True)
class Record:
    section: str  # "an", "ns", "ar"
    name: Name
    rtype: int
    rclass: int  # without the mDNS cache-flush bit
    ttl: int
    rdata: bytes
    address: str | None = None  # A / AAAA
    target: Name | None = None  # PTR / CNAME / NS
    srv: Srv | None = None
    txt: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    flags: int
    questions: tuple[Question, ...]
    records: tuple[Record, ...]
    error: str | None = None  # reason parsing stopped early, None when complete

    @property
    def is_response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0x0F

    @property
    def rcode(self) -> int:
        return self.flags & 0x0F


def dotted(name: Name) -> str:
    """The usual text form of a name, without the trailing dot ("" for the root)."""
    return ".".join(name)


def read_name(data: bytes, offset: int, cache: dict[int, Name] | None = None) -> tuple[Name, int]:
    """Read the name at `offset`. Returns (labels, offset just past the name in place).

    `cache` (one per message) maps label offsets to the name read from there, so suffixes
    shared through compression pointers are decoded once per message.

    Raises:
        DecodeError: truncated name, bad label type, a pointer that does not point
            backwards, too many pointers, or a name over 255 octets.
    """
    labels: list[str] = []
    starts: list[int] = []
    suffix: Name = ()
    total = 0
    end = -1  # where the name ends in place, set at the first pointer
    pos = offset
    jumps = 0
    size = len(data)
    while True:
        if cache is not None and pos in cache:
            suffix = cache[pos]
            total += sum(len(label) + 1 for label in suffix)
            if total > MAX_NAME_LEN:
                raise DecodeError("dns_name_too_long")
            if end < 0:
                end = _skip_name(data, pos)
            break
        if pos >= size:
            raise DecodeError("dns_name_truncated")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= size:
                raise DecodeError("dns_name_truncated")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= pos:  # only backwards: makes loops impossible
                raise DecodeError("dns_pointer_forward")
            jumps += 1
            if jumps > MAX_POINTERS:
                raise DecodeError("dns_pointer_loop")
            if end < 0:
                end = pos + 2
            pos = target
            continue
        if kind:
            raise DecodeError("dns_label_type")
        start = pos + 1
        pos = start + length
        if pos > size:
            raise DecodeError("dns_name_truncated")
        total += length + 1
        if total > MAX_NAME_LEN:
            raise DecodeError("dns_name_too_long")
        starts.append(start - 1)
        labels.append(data[start:pos].decode("utf-8", "replace"))
    name = tuple(labels) + suffix
    if cache is not None:
        for i, label_at in enumerate(starts):
            cache[label_at] = name[i:]
    return name, (end if end >= 0 else pos)


def _skip_name(data: bytes, pos: int) -> int:
    """Offset just past the in-place part of a name already read (labels up to a pointer or 0)."""
    while data[pos] and data[pos] & 0xC0 != 0xC0:
        pos += 1 + data[pos]
    return pos + (1 if data[pos] == 0 else 2)


def _read_question(data: bytes, offset: int, cache: dict[int, Name]) -> tuple[Question, int]:
    name, offset = read_name(data, offset, cache)
    if offset + 4 > len(data):
        raise DecodeError("dns_question_truncated")
    qtype, qclass = _QUESTION_FIXED.unpack_from(data, offset)
    return Question(name, qtype, qclass & 0x7FFF, bool(qclass & 0x8000)), offset + 4


def _read_txt(rdata: bytes) -> tuple[bytes, ...]:
    strings: list[bytes] = []
    pos = 0
    while pos < len(rdata):
        length = rdata[pos]
        end = pos + 1 + length
        if end > len(rdata):
            raise DecodeError("dns_txt_truncated")
        strings.append(rdata[pos + 1 : end])
        pos = end
    return tuple(strings)


def _read_record(
    data: bytes, offset: int, section: str, cache: dict[int, Name]
) -> tuple[Record, int]:
    name, offset = read_name(data, offset, cache)
    if offset + 10 > len(data):
        raise DecodeError("dns_record_truncated")
    rtype, rclass, ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
    start = offset + 10
    end = start + rdlength
    if end > len(data):
        raise DecodeError("dns_rdata_truncated")
    rdata = data[start:end]
    address: str | None = None
    target: Name | None = None
    srv: Srv | None = None
    txt: tuple[bytes, ...] = ()
    if rtype == TYPE_A and rdlength == 4:
        address = socket.inet_ntop(socket.AF_INET, rdata)
    elif rtype == TYPE_AAAA and rdlength == 16:
        address = socket.inet_ntop(socket.AF_INET6, rdata)
    elif rtype in (TYPE_PTR, TYPE_CNAME, TYPE_NS):
        target, _ = read_name(data, start, cache)  # names in rdata may point anywhere before
    elif rtype == TYPE_SRV:
        if rdlength < 7:
            raise DecodeError("dns_srv_truncated")
        priority, weight, port = _SRV_FIXED.unpack_from(data, start)
        srv = Srv(priority, weight, port, read_name(data, start + 6, cache)[0])
    elif rtype == TYPE_TXT:
        txt = _read_txt(rdata)
    record = Record(section, name, rtype, rclass & 0x7FFF, ttl, rdata, address, target, srv, txt)
    return record, end


def parse_message(data: bytes, max_records: int = MAX_RECORDS) -> Message:
    """Parse one DNS message (UDP payload; strip the 2-byte length first for TCP).

    At most `max_records` questions plus records are read; the rest is ignored.

    Raises:
        DecodeError: shorter than the header, or the first question/record is malformed.
    """
    if len(data) < HEADER_LEN:
        raise DecodeError("dns_short_header")
    ident, flags, qd, an, ns, ar = _HEADER.unpack_from(data, 0)
    offset = HEADER_LEN
    questions: list[Question] = []
    records: list[Record] = []
    budget = max_records
    error: str | None = None
    cache: dict[int, Name] = {}
    try:
        for _ in range(min(qd, budget)):
            question, offset = _read_question(data, offset, cache)
            questions.append(question)
        budget -= len(questions)
        for section, count in (("an", an), ("ns", ns), ("ar", ar)):
            for _ in range(min(count, budget)):
                record, offset = _read_record(data, offset, section, cache)
                records.append(record)
                budget -= 1
    except DecodeError as exc:
        if not questions and not records:
            raise
        error = exc.reason
    return Message(ident, flags, tuple(questions), tuple(records), error)
