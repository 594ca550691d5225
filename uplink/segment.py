"""On-disk formats of the buffer: sealed segments, the open-segment journal, the state file.

Every write goes through FileOps, the one seam where the crash tests kill the process (at
each write / fsync / rename / unlink boundary, and mid-write for torn writes) and where the
benchmark counts fsyncs. Layouts (all integers big-endian):

sealed segment `seg-<seq:020d>.seg`, format v1:
    b"BWS" | version u8 = 1 | crc32(batch) u32 | batch frame (docs/wire-format.md), verbatim
sealed segment, legacy format v0 (the draft layout before segments had a header; no sensor
    in the field ever wrote it, it exists so that the migration path is real and tested):
    the batch frame alone, starting b"BW\\x01". Migrated to v1 on start-up.
journal `journal`, format v1:
    header (48 bytes): b"BWJ" | version u8 = 1 | seq u64 (the seq this open segment will be
            sealed as) | prev_hash 32 bytes (SHA-256 of batch seq-1) | crc32(previous 44) u32
    records: length u32 | crc32(length bytes + body, seeded with the header crc) u32 | body
    A record whose length or crc does not check is a torn tail: it and everything after it
    are truncated away on start (only a record whose store() had not returned can be torn).
    Seeding each record's crc with the header's ties records to one journal generation: on
    seal the journal is reset in place (truncate, new header, one fsync), and a power cut that
    keeps the new header but resurrects old records cannot replay them into the next batch.
state `state.json`: JSON, replaced atomically (temp, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uplink.batch import BATCH_MAGIC, FORMAT_VERSION, GENESIS_HASH

SEGMENT_VERSION = 1
JOURNAL_VERSION = 1
STATE_VERSION = 1
_SEGMENT_HEAD = struct.Struct(">3sBI")
_JOURNAL_HEAD = struct.Struct(">3sBQ32sI")
JOURNAL_HEADER_BYTES = _JOURNAL_HEAD.size
_RECORD_HEAD = struct.Struct(">II")
SEGMENT_SUFFIX = ".seg"
JOURNAL_NAME = "journal"
STATE_NAME = "state.json"
TMP_SUFFIX = ".tmp"
BAD_SUFFIX = ".bad"
REJECTED_SUFFIX = ".rejected"
MAX_RECORD_BYTES = 1 << 24


class FileOps:
    """The buffer's only way to change the disk. Counts fsyncs for the benchmark."""

    def __init__(self) -> None:
        self.fsyncs = 0

    def write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def fsync(self, fd: int) -> None:
        self.fsyncs += 1
        os.fsync(fd)

    def fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.fsync(fd)
        finally:
            os.close(fd)

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def unlink(self, path: Path) -> None:
        os.unlink(path)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def pwrite(self, fd: int, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            done = os.pwrite(fd, view, offset)
            view, offset = view[done:], offset + done


def atomic_write(ops: FileOps, path: Path, data: bytes) -> None:
    """Temp file, write, fsync, os.replace, fsync of the directory."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        ops.write(fd, data)
        ops.fsync(fd)
    finally:
        os.close(fd)
    ops.replace(tmp, path)
    ops.fsync_dir(path.parent)


# --- sealed segments ------------------------------------------------------------------------


def segment_name(seq: int) -> str:
    return f"seg-{seq:020d}{SEGMENT_SUFFIX}"


def segment_seq(name: str) -> int | None:
    """The seq in a segment file name, or None if the name is not a segment's."""
    if not (name.startswith("seg-") and name.endswith(SEGMENT_SUFFIX)):
        return None
    digits = name[4 : -len(SEGMENT_SUFFIX)]
    return int(digits) if digits.isdigit() and len(digits) == 20 else None


def encode_segment(batch: bytes) -> bytes:
    return _SEGMENT_HEAD.pack(b"BWS", SEGMENT_VERSION, zlib.crc32(batch)) + batch


class SegmentFormatError(ValueError):
    """A sealed segment does not check (bad magic, version or crc)."""


def decode_segment(data: bytes) -> tuple[bytes, int]:
    """(batch frame, segment format version); v0 frames are returned as-is with version 0."""
    if data[:3] == BATCH_MAGIC + bytes([FORMAT_VERSION]):
        return data, 0
    if len(data) < _SEGMENT_HEAD.size:
        raise SegmentFormatError("short segment")
    magic, version, crc = _SEGMENT_HEAD.unpack_from(data)
    if magic != b"BWS":
        raise SegmentFormatError("bad segment magic")
    if version != SEGMENT_VERSION:
        raise SegmentFormatError(f"segment format version {version}")
    batch = data[_SEGMENT_HEAD.size :]
    if zlib.crc32(batch) != crc:
        raise SegmentFormatError("segment crc mismatch")
    return batch, SEGMENT_VERSION


# --- journal --------------------------------------------------------------------------------


def encode_journal_header(seq: int, prev_hash: bytes) -> tuple[bytes, int]:
    """(header bytes, header crc: the seed of this generation's record crcs)."""
    head = struct.pack(">3sBQ32s", b"BWJ", JOURNAL_VERSION, seq, prev_hash)
    crc = zlib.crc32(head)
    return head + struct.pack(">I", crc), crc


def encode_record(body: dict[str, Any], seed: int) -> bytes:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    length = struct.pack(">I", len(data))
    return length + struct.pack(">I", zlib.crc32(length + data, seed)) + data


@dataclass(slots=True)
class JournalScan:
    seq: int
    prev_hash: bytes
    seed: int
    records: list[dict[str, Any]]
    valid_bytes: int  # where the torn tail (if any) starts
    torn: bool


def scan_journal(data: bytes) -> JournalScan:
    """Parse a journal; raises SegmentFormatError if the header itself is bad."""
    if len(data) < _JOURNAL_HEAD.size:
        raise SegmentFormatError("short journal header")
    magic, version, seq, prev_hash, crc = _JOURNAL_HEAD.unpack_from(data)
    if magic != b"BWJ" or zlib.crc32(data[: _JOURNAL_HEAD.size - 4]) != crc:
        raise SegmentFormatError("bad journal header")
    if version != JOURNAL_VERSION:
        raise SegmentFormatError(f"journal format version {version}")
    records: list[dict[str, Any]] = []
    offset = _JOURNAL_HEAD.size
    for body, end in _records(data, offset, crc):
        records.append(body)
        offset = end
    return JournalScan(seq, prev_hash, crc, records, offset, offset != len(data))


def _records(data: bytes, offset: int, seed: int) -> Iterator[tuple[dict[str, Any], int]]:
    while offset + _RECORD_HEAD.size <= len(data):
        length, crc = _RECORD_HEAD.unpack_from(data, offset)
        start = offset + _RECORD_HEAD.size
        end = start + length
        if length > MAX_RECORD_BYTES or end > len(data):
            return
        if zlib.crc32(data[offset : offset + 4] + data[start:end], seed) != crc:
            return
        try:
            body = json.loads(data[start:end])
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if not isinstance(body, dict):
            return
        yield body, end
        offset = end


# --- state ----------------------------------------------------------------------------------


@dataclass(slots=True)
class BufferState:
    """What must survive a restart besides the items: never reuse a seq, keep the chain."""

    next_seq: int = 0
    last_hash: str = GENESIS_HASH.hex()
    epoch: int = 0
    key_id: str = ""
    gap_ranges: list[list[int]] = field(default_factory=list)  # evicted, not yet reported
    gap_batches: int = 0
    gap_items: int = 0
    evicted_batches: int = 0
    evicted_items: int = 0
    quarantined: int = 0
    recoveries: int = 0
    rejected: int = 0
    snapshot_due: bool = False
    version: int = STATE_VERSION

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> BufferState:
        obj = json.loads(data)
        if not isinstance(obj, dict) or obj.get("version") != STATE_VERSION:
            raise SegmentFormatError("unknown state version")
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in obj.items() if k in names})

    def add_gap(self, seq: int, items: int, *, evicted: bool = True) -> None:
        """Record a batch that will never be sent (evicted, or quarantined with items=0)."""
        merged: list[list[int]] = []
        for first, last in sorted([*self.gap_ranges, [seq, seq]]):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self.gap_ranges = merged
        self.gap_batches += 1
        self.gap_items += items
        if evicted:
            self.evicted_batches += 1
            self.evicted_items += items

    def in_gap(self, seq: int) -> bool:
        return any(a <= seq <= b for a, b in self.gap_ranges)

    def clear_gap(self) -> None:
        self.gap_ranges = []
        self.gap_batches = 0
        self.gap_items = 0
