"""Test doubles for the uplink: SensorSimulator (signed batches, good and bad), fakes.

SensorSimulator is what the collector tests feed their verifier and ingest with: valid
chained batches, and tampered, replayed, rolled-back, oversized, wrongly keyed ones. It uses
the same encoder as the sensor (uplink.batch), so a valid simulated batch is byte-for-byte
what a sensor would send. FakePublisher and MemoryBuffer live here too (STYLE.md §9).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from capture.findings import Finding, FindingKind, Severity, Status
from uplink.batch import (
    GENESIS_HASH,
    MAX_BATCH_BYTES,
    BatchHeader,
    DeviceUpsert,
    FindingItem,
    GapItem,
    HealthItem,
    Item,
    KeyRotation,
    Signer,
    TopicKind,
    batch_hash,
    encode_batch,
    item_to_json,
    topic,
)


def sample_findings(count: int, *, start: int = 0, at: float = 1764237600.0) -> list[Item]:
    """Realistic findings: Telnet / SNMP recommendations and port-scan alerts, unique ids.

    `evidence["n"]` carries the finding's number, so tests can check exactly-once delivery.
    """
    rules = [
        (FindingKind.RECOMMENDATION, "telnet-exposed",
         "Disable insecure administration protocol – Telnet", Severity.HIGH, "", Status.UNHEALTHY),
        (FindingKind.RECOMMENDATION, "snmp-v1-v2c",
         "Remove insecure administration protocols SNMP v1 and SNMP v2", Severity.MEDIUM, "",
         Status.UNHEALTHY),
        (FindingKind.ALERT, "port-scan", "Port scan", Severity.MEDIUM, "T1046", Status.ACTIVE),
    ]  # fmt: skip
    out: list[Item] = []
    for n in range(start, start + count):
        kind, rule_id, title, severity, technique, status = rules[n % len(rules)]
        mac = f"00:1b:a9:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"
        out.append(FindingItem(Finding(
            kind=kind, rule_id=rule_id, title=title, severity=severity, devices=(mac,),
            first_seen=at + n, last_seen=at + n + 30.0, count=1 + n % 4,
            attack_technique=technique, status=status,
            evidence={"n": n, "flow": [f"192.168.{(n >> 8) & 0xFF}.{n & 0xFF}", 23,
                                       "192.168.1.5", 50000 + n % 1000, "tcp"]},
        )))  # fmt: skip
    return out


def finding_number(item: dict[str, Any]) -> int | None:
    """The `evidence["n"]` of a sample finding's wire JSON, else None."""
    evidence = item.get("evidence")
    return evidence.get("n") if isinstance(evidence, dict) else None


class SensorSimulator:
    """A sensor without a buffer: makes signed, chained batches on demand.

    Args:
        sensor_id, site: identity (topics are derived from them).
        seed: 32-byte Ed25519 seed (None: a fresh random key).
        epoch: the sequence scope.
    """

    def __init__(
        self,
        sensor_id: str = "pi-0001",
        site: str = "branch-1",
        *,
        seed: bytes | None = None,
        epoch: int = 0x5EED5EED5EED5EED,
        boot_id: str = "6f1c2a4e-8d3b-4c5a-9e7f-0123456789ab",
        created_at_ms: int = 1764237600000,
    ) -> None:
        self.sensor_id, self.site, self.epoch, self.boot_id = sensor_id, site, epoch, boot_id
        self.signer = Signer.from_seed(seed) if seed is not None else Signer.generate()
        self.next_seq = 0
        self.prev_hash = GENESIS_HASH
        self.created_at_ms = created_at_ms
        self.sent: list[bytes] = []
        self._finding_n = 0

    @property
    def public_key_bytes(self) -> bytes:
        return self.signer.public_key_bytes

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    def topic(self, kind: TopicKind = TopicKind.BATCHES) -> str:
        return topic(self.site, self.sensor_id, kind)

    def header(self, seq: int | None = None, prev_hash: bytes | None = None) -> BatchHeader:
        seq = self.next_seq if seq is None else seq
        return BatchHeader(
            sensor_id=self.sensor_id, key_id=self.signer.key_id, epoch=self.epoch, seq=seq,
            prev_hash=self.prev_hash if prev_hash is None else prev_hash,
            created_at_ms=self.created_at_ms + 1000 * seq, mono_ms=1000 * seq,
            boot_id=self.boot_id, clock_synced=True,
        )  # fmt: skip

    def next_batch(self, items: Sequence[Item | dict[str, Any]] | None = None,
                   *, findings: int = 3) -> bytes:  # fmt: skip
        """The next valid batch in the chain (default: `findings` sample findings)."""
        if items is None:
            items = sample_findings(findings, start=self._finding_n)
            self._finding_n += findings
        raw = encode_batch(self.header(), items, self.signer)
        return self._advance(raw)

    def _advance(self, raw: bytes) -> bytes:
        self.next_seq += 1
        self.prev_hash = batch_hash(raw)
        self.sent.append(raw)
        return raw

    def batch_of_size(self, total: int, *, advance: bool = False) -> bytes:
        """A correctly signed batch of exactly `total` bytes (uncompressible filler).

        Used for the size limit: MAX_BATCH_BYTES must be accepted, MAX_BATCH_BYTES + 1 not.
        """
        # Stored zlib blocks (level 0) grow by one byte per filler byte, plus 5 at each block
        # boundary; a padding key of another length shifts the boundary when it is in the way.
        for pad in ("", "p", "pp", "ppp", "pppp", "ppppp"):
            filler = max(0, total - 400)
            for _ in range(16):
                doc = item_to_json(HealthItem(0.0, "OK", {pad: 0} if pad else {}))
                doc["state"] = _incompressible(filler)
                raw = encode_batch(self.header(), [doc], self.signer, level=0, max_bytes=None)
                if len(raw) == total:
                    return self._advance(raw) if advance else raw
                filler += total - len(raw)
                if filler < 0:
                    break
        raise ValueError(f"cannot build a batch of exactly {total} bytes")

    def oversized(self) -> bytes:
        """A correctly signed batch one byte over the limit."""
        return self.batch_of_size(MAX_BATCH_BYTES + 1)

    def tampered(self, raw: bytes | None = None, offset: int = -80) -> bytes:
        """`raw` (default: the last batch sent) with one bit flipped at `offset`."""
        raw = raw if raw is not None else self.sent[-1]
        i = offset % len(raw)
        return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]

    def replayed(self, index: int = -1) -> bytes:
        """A batch already sent, byte for byte."""
        return self.sent[index]

    def rolled_back(self, seq: int, *, findings: int = 1) -> bytes:
        """A correctly signed batch reusing an already-sent seq with other content."""
        items = sample_findings(findings, start=10_000_000 + seq)
        return encode_batch(self.header(seq=seq, prev_hash=GENESIS_HASH), items, self.signer)

    def signed_by_other_key(self) -> bytes:
        """A batch whose header names this sensor's key but is signed with another key."""
        raw = encode_batch(self.header(), sample_findings(1), self.signer)
        return raw[:-64] + Signer.generate().sign(raw[:-64])

    def gap_batch(self, ranges: Sequence[tuple[int, int]], items_lost: int) -> bytes:
        """The next batch, carrying a gap record; skips `next_seq` past the evicted ranges."""
        gap = GapItem(0.0, tuple(ranges), sum(b - a + 1 for a, b in ranges), items_lost)
        self.next_seq = max(self.next_seq, max(b for _, b in ranges) + 1)
        return self.next_batch([gap])

    def rotate_key(self, new_epoch: int = 0x0DDBA11) -> bytes:
        """A batch announcing a new key; afterwards this simulator signs with the new key."""
        new = Signer.generate()
        raw = self.next_batch([KeyRotation(0.0, new.public_key_bytes, new_epoch)])
        self.signer, self.epoch, self.next_seq, self.prev_hash = new, new_epoch, 0, GENESIS_HASH
        return raw

    def device_batch(self, mac: str, fields: dict[str, Any], *, full: bool = True) -> bytes:
        return self.next_batch([DeviceUpsert(mac, 0.0, fields, full)])


def _incompressible(n: int) -> str:
    """`n` hex characters from a deterministic stream (JSON-safe, no escaping)."""
    out: list[str] = []
    block = b"seed"
    while 32 * len(out) < n:
        block = uuid.uuid5(uuid.NAMESPACE_OID, block.hex()).bytes
        out.append(block.hex())
    return "".join(out)[:n]


# --- fakes ----------------------------------------------------------------------------------


@dataclass
class FakePublisher:
    """Records publishes; `connected` and `fail_next` are set by the test.

    Implements uplink.publisher.Publisher. `deliver_ack()` plays the collector's ack.
    """

    connected: bool = True
    fail_next: int = 0
    published: list[bytes] = field(default_factory=list)
    _on_ack: Callable[[bytes], None] | None = None
    _on_connect: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0
    publish_event: threading.Event = field(default_factory=threading.Event)

    def start(self, on_ack: Callable[[bytes], None], on_connect: Callable[[], None]) -> None:
        self._on_ack, self._on_connect = on_ack, on_connect

    def stop(self) -> None:
        self.connected = False

    def is_connected(self) -> bool:
        return self.connected

    def connection_generation(self) -> int:
        return self.generation

    def publish(self, payload: bytes) -> bool:
        with self._lock:
            if not self.connected:
                return False
            if self.fail_next:
                self.fail_next -= 1
                return False
            self.published.append(payload)
            self.publish_event.set()
            return True

    def reconnect(self) -> None:
        """Simulate a new session (the forwarder re-sends what is in flight)."""
        self.connected = True
        self.generation += 1
        if self._on_connect is not None:
            self._on_connect()

    def deliver_ack(self, payload: bytes) -> None:
        assert self._on_ack is not None, "start() was not called"
        self._on_ack(payload)


class MemoryBuffer:
    """The buffer's contract in memory (no disk): for forwarder tests and contract tests."""

    def __init__(self, signer: Signer, *, sensor_id: str = "pi-0001", epoch: int = 1,
                 seal_items: int = 500) -> None:  # fmt: skip
        self._sim = SensorSimulator(sensor_id, epoch=epoch)
        self._sim.signer = signer
        self.seal_items = seal_items
        self._open: list[dict[str, Any]] = []
        self._sealed: dict[int, bytes] = {}
        self._rejected: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def store(self, item: Item) -> None:
        self.store_many([item])

    def store_many(self, items: Sequence[Item]) -> None:
        with self._lock:
            for item in items:
                self._open.append(item_to_json(item))
                if len(self._open) >= self.seal_items:
                    self._seal()

    def seal(self) -> int | None:
        with self._lock:
            return self._seal()

    def seal_if_due(self) -> int | None:
        return None

    def _seal(self) -> int | None:
        if not self._open:
            return None
        seq = self._sim.next_seq
        self._sealed[seq] = self._sim.next_batch(self._open)
        self._open = []
        return seq

    def sealed(self) -> list[int]:
        with self._lock:
            return sorted(self._sealed)

    def read(self, seq: int) -> bytes | None:
        with self._lock:
            return self._sealed.get(seq)

    def ack(self, seq: int) -> bool:
        with self._lock:
            return self._sealed.pop(seq, None) is not None

    def reject(self, seq: int) -> bool:
        with self._lock:
            raw = self._sealed.pop(seq, None)
            if raw is not None:
                self._rejected[seq] = raw
            return raw is not None

    def open_items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._open)
