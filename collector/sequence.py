"""Sequence state of a sensor's batch streams: replay, rollback, gaps and evictions.

A stream is (sensor id, key id, epoch); "Streams" keeps its highest seq and that frame's hash
(never pruned, so retention cannot re-open old sequence numbers), "SequenceGaps" the ranges
not yet received, "SensorAlarms" what a security team should look at. All functions run
inside the ingest transaction, under the sensor's lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collector.store import Tx
from uplink.batch import Batch, GapItem

ROLLBACK = "rollback"
REPLAY = "replay"


def alarm(tx: Tx, sensor_id: str, kind: str, at: float, details: Mapping[str, Any]) -> None:
    tx.execute(
        'INSERT INTO "SensorAlarms" ("SensorId", "Kind", "At", "Details") VALUES (?, ?, ?, ?)',
        (sensor_id, kind, at, json.dumps(dict(details), sort_keys=True)),
    )


_STREAM = '"SensorId" = ? AND "KeyId" = ? AND "Epoch" = ?'


def check_sequence(tx: Tx, batch: Batch, digest: str, now: float) -> str | None:
    """Accept the batch's seq into its stream (updating Streams and SequenceGaps) or say why not."""
    h = batch.header
    stream = (h.sensor_id, h.key_id, h.epoch)
    seq, prev = h.seq, h.prev_hash.hex()
    row = tx.fetchone(f'SELECT "MaxSeq", "MaxHash" FROM "Streams" WHERE {_STREAM}', stream)
    if row is None:
        if seq > 0:
            _add_gap(tx, stream, 0, seq - 1, now)
        tx.execute(
            'INSERT INTO "Streams" ("SensorId", "KeyId", "Epoch", "MaxSeq", "MaxHash", '
            '"StartedAt") VALUES (?, ?, ?, ?, ?, ?)',
            (*stream, seq, digest, now),
        )
        return None
    max_seq, max_hash = int(row[0]), row[1]
    if seq > max_seq:
        if seq == max_seq + 1 and prev != max_hash:
            return ROLLBACK
        if seq > max_seq + 1:
            _add_gap(tx, stream, max_seq + 1, seq - 1, now)
        tx.execute(
            f'UPDATE "Streams" SET "MaxSeq" = ?, "MaxHash" = ? WHERE {_STREAM}',
            (seq, digest, *stream),
        )
        return None
    if not _in_gap(tx, stream, seq):
        return REPLAY
    before = tx.fetchone(
        f'SELECT "BatchHash" FROM "Batches" WHERE {_STREAM} AND "BatchSeq" = ?', (*stream, seq - 1)
    )
    after = tx.fetchone(
        f'SELECT "PrevHash" FROM "Batches" WHERE {_STREAM} AND "BatchSeq" = ?', (*stream, seq + 1)
    )
    if (before is not None and before[0] != prev) or (after is not None and after[0] != digest):
        return ROLLBACK
    _remove_range(tx, stream, seq, seq)
    return None


def _in_gap(tx: Tx, stream: tuple[str, str, int], seq: int) -> bool:
    return (
        tx.fetchone(
            f'SELECT 1 FROM "SequenceGaps" WHERE {_STREAM} AND "FirstSeq" <= ? AND "LastSeq" >= ?',
            (*stream, seq, seq),
        )
        is not None
    )


def _add_gap(tx: Tx, stream: tuple[str, str, int], first: int, last: int, now: float) -> None:
    tx.execute(
        'INSERT INTO "SequenceGaps" ("SensorId", "KeyId", "Epoch", "FirstSeq", "LastSeq", '
        '"RecordedAt") VALUES (?, ?, ?, ?, ?, ?)',
        (*stream, first, last, now),
    )
    tx.execute(
        'UPDATE "Sensors" SET "GapBatches" = "GapBatches" + ? WHERE "SensorId" = ?',
        (last - first + 1, stream[0]),
    )
    alarm(tx, stream[0], "gap", now, {"epoch": stream[2], "first": first, "last": last})


def _remove_range(tx: Tx, stream: tuple[str, str, int], first: int, last: int) -> int:
    """Close [first, last] in the stream's gaps; returns how many missing seqs it closed."""
    closed = 0
    for g_first, g_last, recorded_at in tx.fetchall(
        f'SELECT "FirstSeq", "LastSeq", "RecordedAt" FROM "SequenceGaps" WHERE {_STREAM} '
        'AND "FirstSeq" <= ? AND "LastSeq" >= ?',
        (*stream, last, first),
    ):
        tx.execute(
            f'DELETE FROM "SequenceGaps" WHERE {_STREAM} AND "FirstSeq" = ?', (*stream, g_first)
        )
        lo, hi = max(first, g_first), min(last, g_last)
        closed += hi - lo + 1
        for a, b in ((g_first, lo - 1), (hi + 1, g_last)):
            if a <= b:
                tx.execute(
                    'INSERT INTO "SequenceGaps" ("SensorId", "KeyId", "Epoch", "FirstSeq", '
                    '"LastSeq", "RecordedAt") VALUES (?, ?, ?, ?, ?, ?)',
                    (*stream, a, b, recorded_at),
                )
    if closed:
        tx.execute(
            'UPDATE "Sensors" SET "GapBatches" = "GapBatches" - ? WHERE "SensorId" = ?',
            (closed, stream[0]),
        )
    return closed


def apply_gap_item(tx: Tx, batch: Batch, item: GapItem, now: float) -> None:
    h = batch.header
    stream = (h.sensor_id, h.key_id, h.epoch)
    for first, last in item.ranges:
        if last < h.seq:
            _remove_range(tx, stream, first, last)
    tx.execute(
        'UPDATE "Sensors" SET "EvictedItems" = "EvictedItems" + ? WHERE "SensorId" = ?',
        (item.items, h.sensor_id),
    )
    alarm(
        tx,
        h.sensor_id,
        "evicted",
        now,
        {"ranges": [list(r) for r in item.ranges], "batches": item.batches, "items": item.items},
    )
