"""Buffer → batch → publish → collector ack → delete, with a window of batches in flight.

Input: sealed batches from the buffer (uplink.buffer.Buffer or testing.MemoryBuffer).
Output: publishes through a Publisher; a batch is deleted from the buffer only when the
collector's ack for exactly its (sensor_id, key_id, epoch, seq) arrives (DESIGN.md: a PUBACK
is not an acceptance). Unacked batches are re-sent after every reconnect and after the ack
timeout. A token bucket keeps uploads within the configured bytes per second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from uplink.batch import MAX_BATCH_BYTES, AckStatus, decode_ack
from uplink.errors import WireError
from uplink.publisher import LinkState, Publisher

log = logging.getLogger(__name__)


class BatchSource(Protocol):
    """What the forwarder needs from a buffer (Buffer, testing.MemoryBuffer)."""

    def seal_if_due(self) -> int | None: ...
    def sealed(self) -> list[int]: ...
    def read(self, seq: int) -> bytes | None: ...
    def ack(self, seq: int) -> bool: ...
    def reject(self, seq: int) -> bool: ...


class TokenBucket:
    """Bytes-per-second budget; holds one maximum batch so any batch can eventually go."""

    def __init__(self, rate_bytes_per_s: int, clock: Callable[[], float],
                 capacity: int = MAX_BATCH_BYTES) -> None:  # fmt: skip
        self.rate, self.capacity, self._clock = rate_bytes_per_s, capacity, clock
        self.tokens = float(capacity)
        self._at = clock()

    def take(self, n: int) -> bool:
        """Spend `n` bytes if the budget allows now (rate 0: unlimited)."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    link: LinkState
    backlog_batches: int
    inflight: int
    counters: dict[str, int]
    last_ack_at: float | None = None  # wall clock of the last ack that deleted a batch


class Forwarder:
    """Moves sealed batches to the collector; runs as thread "uplink-forwarder".

    Args:
        buffer: the batch source.
        publisher: the transport.
        sensor_id, key_id, epoch: whose acks to accept.
        window: batches in flight at most.
        ack_timeout_s: re-send a batch not acked within this time.
        bandwidth_bytes_per_s: upload budget, 0 = unlimited.
        ack_key: the collector's public key; when given, unsigned or forged acks are ignored.
        clock: monotonic seconds; tick_s: how often the thread looks at the buffer.
    """

    def __init__(
        self,
        buffer: BatchSource,
        publisher: Publisher,
        *,
        sensor_id: str,
        key_id: str,
        epoch: int,
        window: int = 4,
        ack_timeout_s: float = 60.0,
        bandwidth_bytes_per_s: int = 0,
        ack_key: Ed25519PublicKey | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 0.5,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.buffer, self.publisher = buffer, publisher
        self._identity = (sensor_id, key_id, epoch)
        self.window, self.ack_timeout_s, self.tick_s = window, ack_timeout_s, tick_s
        self._ack_key, self._clock, self._now = ack_key, clock, now
        self._last_ack_at: float | None = None
        self._bucket = TokenBucket(bandwidth_bytes_per_s, clock)
        self._lock = threading.Lock()
        self._inflight: dict[int, float] = {}  # seq -> monotonic time sent
        self._generation = publisher.connection_generation()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._degraded_until = 0.0
        self.counters = {"sent": 0, "resent": 0, "acked": 0, "ignored_acks": 0,
                         "unknown_acks": 0, "bad_acks": 0, "rejected": 0, "ack_timeouts": 0,
                         "publish_failures": 0, "throttled": 0, "errors": 0}  # fmt: skip

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.publisher.start(self.on_ack, self.on_connect)
        self._thread = threading.Thread(target=self._run, name="uplink-forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Idempotent: stop the thread, then the publisher."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.publisher.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # loop boundary: log with traceback, count, go on
                log.exception("uplink: forwarder step failed")
                self.counters["errors"] += 1
            self._wake.wait(self.tick_s)
            self._wake.clear()

    # --- the work ---------------------------------------------------------------------------

    def step(self) -> int:
        """Seal if due, expire overdue batches, publish up to the window; returns publishes."""
        self.buffer.seal_if_due()
        with self._lock:
            generation = self.publisher.connection_generation()
            if generation != self._generation:  # new session: everything in flight again
                self._generation = generation
                self.counters["resent"] += len(self._inflight)
                self._inflight.clear()
            if not self.publisher.is_connected():
                return 0
            now = self._clock()
            for seq, sent_at in list(self._inflight.items()):
                if now - sent_at >= self.ack_timeout_s:
                    del self._inflight[seq]
                    self.counters["ack_timeouts"] += 1
                    self.counters["resent"] += 1
                    self._degraded_until = now + self.ack_timeout_s
            return self._publish_window(now)

    def _publish_window(self, now: float) -> int:
        published = 0
        for seq in self.buffer.sealed():
            if len(self._inflight) >= self.window:
                break
            if seq in self._inflight:
                continue
            raw = self.buffer.read(seq)
            if raw is None:
                continue
            if not self._bucket.take(len(raw)):
                self.counters["throttled"] += 1
                break
            if not self.publisher.publish(raw):
                self.counters["publish_failures"] += 1
                break
            self._inflight[seq] = now
            self.counters["sent"] += 1
            published += 1
        return published

    def on_connect(self) -> None:
        """Called by the publisher after a successful CONNACK: wake up and re-send."""
        self._wake.set()

    def on_ack(self, payload: bytes) -> None:
        """An ack arrived (publisher thread): delete, set aside, or ignore, then wake up."""
        try:
            ack = decode_ack(payload, self._ack_key)
        except WireError as exc:
            self.counters["bad_acks"] += 1
            log.warning("uplink: ignoring an ack: %s", exc.reason)
            return
        if (ack.sensor_id, ack.key_id, ack.epoch) != self._identity:
            self.counters["unknown_acks"] += 1
            return
        with self._lock:
            self._inflight.pop(ack.seq, None)
            if ack.status is AckStatus.REJECTED:
                if self.buffer.reject(ack.seq):
                    self.counters["rejected"] += 1
                    log.error("uplink: collector rejected batch %d: %s", ack.seq, ack.reason)
            elif self.buffer.ack(ack.seq):
                self.counters["acked"] += 1
                self._last_ack_at = self._now()
            else:  # a duplicate ack, or one for a batch evicted or never sealed here
                self.counters["ignored_acks"] += 1
        self._wake.set()

    def inflight(self) -> list[int]:
        with self._lock:
            return sorted(self._inflight)

    def status(self) -> UplinkStatus:
        """For the LEDs and `status`: link state, backlog, counters."""
        with self._lock:
            link = LinkState.CONNECTED if self.publisher.is_connected() else LinkState.DOWN
            if link is LinkState.CONNECTED and self._clock() < self._degraded_until:
                link = LinkState.DEGRADED
            state = getattr(self.publisher, "state", None)
            if callable(state) and state() is LinkState.AUTH_FAILED:
                link = LinkState.AUTH_FAILED
            return UplinkStatus(link, len(self.buffer.sealed()), len(self._inflight),
                                dict(self.counters), self._last_ack_at)  # fmt: skip
