"""The store-and-forward buffer on the SD card: items in, signed sealed batches out.

Input: wire items (uplink.batch.Item). Output: sealed segments, each one signed batch frame,
kept until the collector's ack. TinyDB is the document store of the open segment, behind a
storage of our own (JournalStorage): every TinyDB write appends only the changed documents to
a checksummed journal and fsyncs once, so store() returns only once its item is durable
(store_many() is the group commit: one fsync for the lot). Sealing signs the open segment into
a batch, writes it atomically (temp, fsync, os.replace, fsync of the directory) and resets
the journal in place. See uplink/segment.py for the byte layouts and DESIGN.md for why
TinyDB's own JSONStorage is not used.

Start-up never stops on a bad file: leftover temp files are removed, a torn journal tail is
truncated, a corrupt sealed segment (or journal header, or state file) is renamed *.bad and
counted, and legacy v0 segments are migrated to v1.

Single process, one Buffer object, one lock (STYLE.md §8).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from uplink.batch import (
    GENESIS_HASH,
    SEAL_BATCH_BYTES,
    BatchHeader,
    Item,
    batch_hash,
    decode_items,
    encode_batch,
    encode_items,
    item_to_json,
    parse_envelope,
)
from uplink.batch import Signer as _Signer
from uplink.errors import BufferFullError, BufferStoreError, WireError
from uplink.segment import (
    BAD_SUFFIX,
    JOURNAL_HEADER_BYTES,
    JOURNAL_NAME,
    REJECTED_SUFFIX,
    STATE_NAME,
    TMP_SUFFIX,
    BufferState,
    FileOps,
    JournalScan,
    SegmentFormatError,
    atomic_write,
    decode_segment,
    encode_journal_header,
    encode_record,
    encode_segment,
    scan_journal,
    segment_name,
    segment_seq,
)

log = logging.getLogger(__name__)

_TABLE = "_default"
# Room kept free for the state file and temp files while sealing.
_SLACK_BYTES = 8192
# zlib worst case: 5 bytes per 16 KiB stored block + 6; plus the frame and segment header.
_FRAME_OVERHEAD = 102 + 64 + 64 + 8


@dataclass(frozen=True, slots=True)
class BufferStats:
    sealed_batches: int
    sealed_items: int
    open_items: int
    used_bytes: int
    max_bytes: int
    next_seq: int
    evicted_batches: int
    evicted_items: int
    quarantined: int
    recoveries: int
    rejected: int

    @property
    def fill_ratio(self) -> float:
        return self.used_bytes / self.max_bytes if self.max_bytes else 0.0


class _Journal:
    """The open segment's journal file: an fd, the current documents, and the header."""

    def __init__(self, path: Path, ops: FileOps) -> None:
        self.path = path
        self.ops = ops
        self.fd = -1
        self.seq = 0
        self.prev_hash = GENESIS_HASH
        self.seed = 0
        self.docs: dict[str, dict[str, Any]] = {}
        self.size = 0
        self.raw_bytes = 0  # uncompressed item JSON, for the seal threshold

    def open(self, seq: int, prev_hash: bytes, records: list[dict[str, Any]] | None) -> None:
        """Adopt the file (already scanned, `records` valid) or recreate it empty."""
        self.seq, self.prev_hash = seq, prev_hash
        if records is None:
            header, self.seed = encode_journal_header(seq, prev_hash)
            atomic_write(self.ops, self.path, header)
            records = []
        else:
            _, self.seed = encode_journal_header(seq, prev_hash)
        self.fd = os.open(self.path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.docs = {}
        for record in records:
            self._apply(record)
        self.raw_bytes = sum(len(encode_items([d])) - 2 for d in self.docs.values())

    def _apply(self, record: dict[str, Any]) -> None:
        if record.get("op") == "put":
            self.docs[str(record["id"])] = record["doc"]
        elif record.get("op") == "del":
            self.docs.pop(str(record["id"]), None)

    def append(self, records: list[dict[str, Any]]) -> None:
        """One write and one fsync for all `records`; on failure the file is cut back."""
        if not records:
            return
        data = b"".join(encode_record(r, self.seed) for r in records)
        try:
            self.ops.write(self.fd, data)
            self.ops.fsync(self.fd)
        except OSError:
            os.ftruncate(self.fd, self.size)
            os.lseek(self.fd, self.size, os.SEEK_SET)
            raise
        self.size += len(data)
        for record in records:
            if record["op"] == "put":
                self.raw_bytes += len(encode_items([record["doc"]])) - 2
            self._apply(record)

    def reset(self, seq: int, prev_hash: bytes) -> None:
        """Start the next generation in place: truncate, new header, one fsync."""
        header, seed = encode_journal_header(seq, prev_hash)
        self.ops.truncate(self.fd, 0)
        self.ops.pwrite(self.fd, header, 0)
        self.ops.fsync(self.fd)
        os.lseek(self.fd, JOURNAL_HEADER_BYTES, os.SEEK_SET)
        self.seq, self.prev_hash, self.seed = seq, prev_hash, seed
        self.docs, self.size, self.raw_bytes = {}, JOURNAL_HEADER_BYTES, 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class JournalStorage(Storage):  # type: ignore[misc]
    """TinyDB storage over the journal: write() appends only what changed since last time."""

    def __init__(self, journal: _Journal) -> None:
        self._journal = journal

    def read(self) -> dict[str, dict[str, Any]] | None:
        docs = self._journal.docs
        return {_TABLE: {k: dict(v) for k, v in docs.items()}} if docs else None

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        table = data.get(_TABLE, {})
        old = self._journal.docs
        records: list[dict[str, Any]] = [
            {"op": "put", "id": int(k), "doc": doc} for k, doc in table.items() if old.get(k) != doc
        ]
        records += [{"op": "del", "id": int(k)} for k in old.keys() - table.keys()]
        self._journal.append(records)

    def close(self) -> None:
        pass


class Buffer:
    """Durable FIFO of signed batches with a byte budget.

    Args:
        directory: the buffer directory (created if missing).
        signer: the sensor's batch-signing key.
        sensor_id, epoch: the sequence scope (with signer.key_id).
        max_bytes: budget for every file in the directory (segments, journal, state, temps).
        seal_items, seal_bytes, seal_interval_s: seal at this many items, this much item JSON,
            or this age of the oldest open item, whichever first.
        clock: monotonic seconds (seal age, mono_ms); now: wall-clock epoch seconds.
        clock_synced: whether the wall clock is NTP-synchronised now.
        boot_id: this boot's id (default: /proc/sys/kernel/random/boot_id).
        ops: the file-operation seam (crash tests, benchmark).
    Raises:
        BufferStoreError: the directory holds another sensor scope's state.
    """

    def __init__(
        self,
        directory: str | Path,
        signer: _Signer,
        *,
        sensor_id: str,
        epoch: int,
        max_bytes: int = 50_000_000,
        seal_items: int = 500,
        seal_bytes: int = SEAL_BATCH_BYTES,
        seal_interval_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
        clock_synced: Callable[[], bool] = lambda: True,
        boot_id: str | None = None,
        ops: FileOps | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._signer, self._sensor_id, self._epoch = signer, sensor_id, epoch
        self.max_bytes, self.seal_items, self.seal_bytes = max_bytes, seal_items, seal_bytes
        self.seal_interval_s = seal_interval_s
        self._clock, self._now, self._clock_synced = clock, now, clock_synced
        self._boot_id = boot_id or _read_boot_id()
        self.ops = ops or FileOps()
        self._lock = threading.RLock()
        self._segments: dict[int, tuple[int, int]] = {}  # seq -> (file bytes, item count)
        self._other_bytes: dict[str, int] = {}  # rejected segments by name
        self._journal = _Journal(self.directory / JOURNAL_NAME, self.ops)
        self._state = BufferState(epoch=epoch, key_id=signer.key_id)
        self._opened_at: float | None = None
        self._recover()
        self._db = TinyDB(self._journal, storage=JournalStorage)

    # --- public API -------------------------------------------------------------------------

    def store(self, item: Item) -> None:
        """Append one item durably (one fsync); seals first when the open segment is full."""
        self.store_many([item])

    def store_many(self, items: Iterable[Item]) -> None:
        """Group commit: the items go to the journal with one fsync per open segment."""
        with self._lock:
            pending: list[dict[str, Any]] = []
            pending_bytes = 0
            for item in items:
                doc = item_to_json(item)
                size = len(encode_items([doc])) - 2
                count = len(self._journal.docs) + len(pending)
                if pending_bytes + self._journal.raw_bytes + size > self.seal_bytes or (
                    count >= self.seal_items
                ):
                    self._insert(pending, pending_bytes)
                    pending, pending_bytes = [], 0
                    self._seal_locked()
                pending.append(doc)
                pending_bytes += size
            self._insert(pending, pending_bytes)
            if len(self._journal.docs) >= self.seal_items:
                self._seal_locked()

    def seal(self) -> int | None:
        """Seal the open segment (and any pending gap record) now; returns its seq or None."""
        with self._lock:
            return self._seal_locked()

    def seal_if_due(self) -> int | None:
        """Seal when the oldest open item is older than seal_interval_s."""
        with self._lock:
            if self._opened_at is None and self._state.gap_ranges:
                self._opened_at = self._clock()
            if self._opened_at is None:
                return None
            if self._clock() - self._opened_at < self.seal_interval_s:
                return None
            return self._seal_locked()

    def sealed(self) -> list[int]:
        """Seqs of the sealed batches waiting for an ack, oldest first."""
        with self._lock:
            return sorted(self._segments)

    def read(self, seq: int) -> bytes | None:
        """The exact batch bytes of sealed `seq`, or None if it is gone (acked, evicted, bad)."""
        with self._lock:
            if seq not in self._segments:
                return None
            path = self.directory / segment_name(seq)
            try:
                batch, _ = decode_segment(path.read_bytes())
            except (OSError, SegmentFormatError) as exc:
                self._quarantine(path, f"unreadable at send: {exc}")
                self._segments.pop(seq, None)
                self._state.add_gap(seq, 0, evicted=False)  # the collector must hear of it
                self._save_state()
                return None
            return batch

    def ack(self, seq: int) -> bool:
        """The collector committed `seq`: delete its segment. False if we do not hold it.

        No directory fsync: a deletion lost to a power cut re-sends the batch, which the
        collector acks as a duplicate.
        """
        with self._lock:
            if seq not in self._segments:
                return False
            self.ops.unlink(self.directory / segment_name(seq))
            del self._segments[seq]
            return True

    def reject(self, seq: int) -> bool:
        """The collector will never accept `seq`: set it aside as *.rejected and count it."""
        with self._lock:
            if seq not in self._segments:
                return False
            name = segment_name(seq) + REJECTED_SUFFIX
            self.ops.replace(self.directory / segment_name(seq), self.directory / name)
            self._other_bytes[name] = self._segments.pop(seq)[0]
            self._state.rejected += 1
            self._save_state()
            return True

    def open_items(self) -> list[dict[str, Any]]:
        """The open segment's items (wire JSON), oldest first, through TinyDB."""
        with self._lock:
            return [dict(d) for d in sorted(self._db.all(), key=lambda d: d.doc_id)]

    def take_snapshot_request(self) -> bool:
        """True once after an eviction: the next batches should carry full device records."""
        with self._lock:
            due = self._state.snapshot_due
            if due:
                self._state.snapshot_due = False
                self._save_state()
            return due

    def stats(self) -> BufferStats:
        with self._lock:
            s = self._state
            return BufferStats(
                sealed_batches=len(self._segments),
                sealed_items=sum(n for _, n in self._segments.values()),
                open_items=len(self._journal.docs),
                used_bytes=self._used_bytes(),
                max_bytes=self.max_bytes,
                next_seq=self._journal.seq,
                evicted_batches=s.evicted_batches,
                evicted_items=s.evicted_items,
                quarantined=s.quarantined,
                recoveries=s.recoveries,
                rejected=s.rejected,
            )

    def close(self) -> None:
        with self._lock:
            self._journal.close()

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------------

    def _insert(self, docs: list[dict[str, Any]], size: int) -> None:
        if not docs:
            return
        self._make_room(size + 16 * len(docs))
        if not self._journal.docs:
            self._opened_at = self._clock()
        # TinyDB assigns the ids; JournalStorage turns its write() into one journal append.
        self._db.insert_multiple(docs)

    def _seal_locked(self) -> int | None:
        docs = [self._journal.docs[k] for k in sorted(self._journal.docs, key=int)]
        if not docs and not self._state.gap_ranges:
            return None
        self._make_room(self._journal.raw_bytes + _FRAME_OVERHEAD + self._journal.raw_bytes // 2000)
        seq, prev = self._journal.seq, self._journal.prev_hash
        gap = self._state.gap_ranges
        items: list[dict[str, Any]] = [self._gap_item()] if gap else []
        header = BatchHeader(
            sensor_id=self._sensor_id,
            key_id=self._signer.key_id,
            epoch=self._epoch,
            seq=seq,
            prev_hash=prev,
            created_at_ms=int(self._now() * 1000),
            mono_ms=int(self._clock() * 1000),
            boot_id=self._boot_id,
            clock_synced=self._clock_synced(),
        )
        raw = encode_batch(header, items + docs, self._signer)
        data = encode_segment(raw)
        atomic_write(self.ops, self.directory / segment_name(seq), data)
        self._segments[seq] = (len(data), len(items) + len(docs))
        self._journal.reset(seq + 1, batch_hash(raw))
        self._db.clear_cache()
        self._db = TinyDB(self._journal, storage=JournalStorage)
        self._opened_at = None
        if gap:
            self._state.clear_gap()
            self._save_state()
        log.debug("sealed batch %d: %d items, %d bytes", seq, len(items) + len(docs), len(raw))
        return seq

    def _gap_item(self) -> dict[str, Any]:
        s = self._state
        return {
            "type": "gap",
            "at": self._now(),
            "ranges": [list(r) for r in s.gap_ranges],
            "batches": s.gap_batches,
            "items": s.gap_items,
            "reason": "evicted",
        }

    def _used_bytes(self) -> int:
        return (
            sum(size for size, _ in self._segments.values())
            + sum(self._other_bytes.values())
            + self._journal.size
            + _SLACK_BYTES
        )

    def _make_room(self, needed: int) -> None:
        """Evict rejected, then the oldest sealed batches, until `needed` more bytes fit."""
        if self._used_bytes() + needed <= self.max_bytes:
            return
        while self._other_bytes and self._used_bytes() + needed > self.max_bytes:
            name = min(self._other_bytes)
            self.ops.unlink(self.directory / name)
            del self._other_bytes[name]
        victims: list[int] = []
        freed = 0
        for seq in sorted(self._segments):
            if self._used_bytes() - freed + needed <= self.max_bytes:
                break
            victims.append(seq)
            freed += self._segments[seq][0]
        if self._used_bytes() - freed + needed > self.max_bytes:
            raise BufferFullError(f"{needed} bytes do not fit in {self.max_bytes}")
        if not victims:
            return
        # State first (the gap record is what makes the loss accounted), then the files;
        # a crash in between is finished by _recover (files inside a pending gap are deleted).
        for seq in victims:
            self._state.add_gap(seq, self._segments[seq][1])
        self._state.snapshot_due = True
        self._save_state()
        for seq in victims:
            self.ops.unlink(self.directory / segment_name(seq))
            del self._segments[seq]
        # WARNING once per outage (until the gap is reported), then DEBUG.
        level = logging.WARNING if self._state.gap_batches == len(victims) else logging.DEBUG
        log.log(
            level,
            "buffer full: evicted %d batches (%d in total)",
            len(victims),
            self._state.evicted_batches,
        )

    def _save_state(self) -> None:
        self._state.next_seq = self._journal.seq
        self._state.last_hash = self._journal.prev_hash.hex()
        atomic_write(self.ops, self.directory / STATE_NAME, self._state.encode())

    def _quarantine(self, path: Path, why: str) -> None:
        log.error("buffer: quarantining %s: %s", path.name, why)
        with contextlib.suppress(FileNotFoundError):
            self.ops.replace(path, path.with_name(path.name + BAD_SUFFIX))
        self._state.quarantined += 1

    # --- start-up ---------------------------------------------------------------------------

    def _recover(self) -> None:
        for path in self.directory.glob("*" + TMP_SUFFIX):
            self.ops.unlink(path)
        self._load_state()
        paths = sorted(self.directory.iterdir())
        seqs = {seq: path for path in paths if (seq := segment_seq(path.name)) is not None}
        scan = self._scan_journal()
        # Every seq seen on disk counts, quarantined ones too: a seq is never reused.
        top = max(seqs, default=-1)
        floor = max(self._state.next_seq, top + 1)
        if self._state.gap_ranges and (
            top >= self._state.next_seq or (scan and scan.seq > self._state.next_seq)
        ):
            self._state.clear_gap()  # the crash came after the gap's batch was sealed
        for seq, path in seqs.items():
            self._load_segment(path, seq)
        for path in paths:
            if path.name.endswith(REJECTED_SUFFIX):
                self._other_bytes[path.name] = path.stat().st_size
        if scan is not None and scan.seq >= floor:
            if scan.torn:
                self._state.recoveries += 1
                log.error("buffer: truncating a torn journal tail at byte %d", scan.valid_bytes)
                fd = os.open(self._journal.path, os.O_RDWR)
                try:
                    self.ops.truncate(fd, scan.valid_bytes)
                    self.ops.fsync(fd)
                finally:
                    os.close(fd)
            self._journal.open(scan.seq, scan.prev_hash, scan.records)
        else:
            self._journal.open(floor, self._chain_head(top), None)
        os.lseek(self._journal.fd, 0, os.SEEK_END)
        self._save_state()
        if self._journal.docs:
            self._opened_at = self._clock()

    def _load_state(self) -> None:
        path = self.directory / STATE_NAME
        try:
            state = BufferState.decode(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError) as exc:
            self._quarantine(path, f"unreadable state: {exc}")
            self._state.recoveries += 1
            return
        if (state.epoch, state.key_id) != (self._epoch, self._signer.key_id) and state.key_id:
            raise BufferStoreError(
                f"{self.directory} holds the buffer of key {state.key_id} epoch {state.epoch}: "
                "drain it before rotating the key"
            )
        self._state = state

    def _load_segment(self, path: Path, seq: int) -> None:
        if self._state.in_gap(seq):
            self.ops.unlink(path)  # an eviction interrupted after its state was saved
            return
        try:
            batch, version = decode_segment(path.read_bytes())
            envelope = parse_envelope(batch)
            if envelope.header.seq != seq or envelope.header.key_id != self._signer.key_id:
                raise SegmentFormatError("segment does not match its name or key")
        except (OSError, SegmentFormatError, WireError) as exc:
            self._quarantine(path, str(exc))
            self._state.add_gap(seq, 0, evicted=False)  # reported in the next gap record
            return
        if version == 0:
            log.info("buffer: migrating segment %d from format v0 to v1", seq)
            atomic_write(self.ops, path, encode_segment(batch))
        self._segments[seq] = (len(batch) + 8, envelope.item_count)

    def _scan_journal(self) -> JournalScan | None:
        path = self._journal.path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) < JOURNAL_HEADER_BYTES:
            return None  # cut between truncate and header write during a seal: nothing lost
        try:
            return scan_journal(data)
        except SegmentFormatError as exc:
            self._quarantine(path, str(exc))
            return None

    def _chain_head(self, top: int) -> bytes:
        """prev_hash for a fresh journal: the newest sealed batch, else the state's."""
        if top >= 0 and top + 1 >= self._state.next_seq:
            batch = self._read_batch(top)
            if batch is not None:
                return batch_hash(batch)
        return bytes.fromhex(self._state.last_hash)

    def _read_batch(self, seq: int) -> bytes | None:
        try:
            return decode_segment((self.directory / segment_name(seq)).read_bytes())[0]
        except (OSError, SegmentFormatError):
            return None


def _read_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "00000000-0000-0000-0000-000000000000"


def stored_items(buffer: Buffer) -> Sequence[dict[str, Any]]:
    """Every item the buffer holds (sealed batches, decoded, then the open segment): tests."""
    out: list[dict[str, Any]] = []
    for seq in buffer.sealed():
        raw = buffer.read(seq)
        if raw is not None:
            out += [item_to_json(i) for i in decode_items(parse_envelope(raw))]
    return out + buffer.open_items()
