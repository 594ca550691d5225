"""Forwarder: nothing leaves the buffer before the collector's ack; windows, timeouts, re-sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from uplink.batch import Ack, AckStatus, Signer, encode_ack, parse_envelope
from uplink.buffer import Buffer
from uplink.forwarder import Forwarder, TokenBucket
from uplink.publisher import Backoff, LinkState
from uplink.testing import FakePublisher, MemoryBuffer, sample_findings

SIGNER = Signer.from_seed(bytes(range(32)))
EPOCH = 42


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["memory", "tinydb"])
def buffer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Buffer | MemoryBuffer]:
    if request.param == "memory":
        yield MemoryBuffer(SIGNER, sensor_id="pi-1", epoch=EPOCH, seal_items=10)
        return
    with Buffer(tmp_path, SIGNER, sensor_id="pi-1", epoch=EPOCH, seal_items=10) as b:
        yield b


def ack(seq: int, status: AckStatus = AckStatus.ACCEPTED, signer: Signer | None = None,
        sensor: str = "pi-1", epoch: int = EPOCH) -> bytes:  # fmt: skip
    return encode_ack(Ack(sensor, SIGNER.key_id, epoch, seq, status), signer)


def make(
    buffer: Buffer | MemoryBuffer, clock: FakeClock | None = None, **kw: object
) -> tuple[Forwarder, FakePublisher]:
    pub = FakePublisher()
    options: dict[str, object] = {"sensor_id": "pi-1", "key_id": SIGNER.key_id, "epoch": EPOCH,
                                  "clock": clock or FakeClock()}  # fmt: skip
    options.update(kw)
    fwd = Forwarder(buffer, pub, **options)  # type: ignore[arg-type]
    pub.start(fwd.on_ack, fwd.on_connect)
    return fwd, pub


def seqs(pub: FakePublisher) -> list[int]:
    return [parse_envelope(raw).header.seq for raw in pub.published]


def test_forwarder_keeps_batch_until_collector_ack(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(20))
    fwd, pub = make(buffer, now=lambda: 1764241200.0)
    assert fwd.step() == 2
    assert buffer.sealed() == [0, 1]  # published (and PUBACKed, as far as we know): still kept
    assert fwd.status().last_ack_at is None
    pub.deliver_ack(ack(0))
    assert buffer.sealed() == [1]
    assert fwd.counters["acked"] == 1
    assert fwd.status().last_ack_at == 1764241200.0


def test_duplicate_and_unknown_acks_are_ignored_and_counted(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(20))
    fwd, pub = make(buffer)
    fwd.step()
    pub.deliver_ack(ack(0))
    pub.deliver_ack(ack(0))  # duplicate
    pub.deliver_ack(ack(999))  # a batch we never sealed
    pub.deliver_ack(ack(1, sensor="pi-2"))  # another sensor's
    pub.deliver_ack(ack(1, epoch=EPOCH + 1))  # another epoch's
    pub.deliver_ack(b"garbage")
    assert buffer.sealed() == [1]
    assert fwd.counters["ignored_acks"] == 2
    assert fwd.counters["unknown_acks"] == 2
    assert fwd.counters["bad_acks"] == 1


def test_no_ack_means_nothing_is_deleted(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(50))
    clock = FakeClock()
    fwd, _ = make(buffer, clock, ack_timeout_s=10.0)
    for _ in range(5):
        fwd.step()
        clock.t += 11.0
    assert buffer.sealed() == [0, 1, 2, 3, 4]


def test_window_bounds_batches_in_flight(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(60))
    fwd, pub = make(buffer, window=2)
    fwd.step()
    assert seqs(pub) == [0, 1]
    fwd.step()
    assert seqs(pub) == [0, 1]
    pub.deliver_ack(ack(0))
    fwd.step()
    assert seqs(pub) == [0, 1, 2]


def test_unacked_batch_is_resent_after_the_ack_timeout(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(10))
    clock = FakeClock()
    fwd, pub = make(buffer, clock, ack_timeout_s=60.0)
    fwd.step()
    clock.t += 59.0
    fwd.step()
    assert seqs(pub) == [0]
    clock.t += 1.0
    fwd.step()
    assert seqs(pub) == [0, 0]
    assert fwd.status().link is LinkState.DEGRADED


def test_everything_in_flight_is_resent_after_reconnect(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(30))
    fwd, pub = make(buffer)
    fwd.step()
    pub.deliver_ack(ack(1))
    pub.connected = False
    assert fwd.step() == 0
    assert fwd.status().link is LinkState.DOWN
    pub.reconnect()
    fwd.step()
    assert seqs(pub) == [0, 1, 2, 0, 2]


def test_rejected_batch_is_set_aside_not_resent(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(20))
    clock = FakeClock()
    fwd, pub = make(buffer, clock, ack_timeout_s=1.0)
    fwd.step()
    pub.deliver_ack(ack(0, AckStatus.REJECTED))
    clock.t += 2.0
    fwd.step()
    assert 0 not in seqs(pub)[2:]
    assert buffer.sealed() == [1]
    assert fwd.counters["rejected"] == 1


def test_unsigned_ack_is_ignored_when_the_collector_key_is_configured(
    buffer: Buffer | MemoryBuffer,
) -> None:
    collector = Signer.generate()
    buffer.store_many(sample_findings(10))
    fwd, pub = make(buffer, ack_key=collector.public_key)
    fwd.step()
    pub.deliver_ack(ack(0))
    pub.deliver_ack(ack(0, signer=Signer.generate()))
    assert buffer.sealed() == [0]
    pub.deliver_ack(ack(0, signer=collector))
    assert buffer.sealed() == []


def test_bandwidth_budget_delays_publishes(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(40))
    clock = FakeClock()
    size = max(len(buffer.read(0) or b""), len(buffer.read(1) or b""))
    fwd, pub = make(buffer, clock, bandwidth_bytes_per_s=size)
    fwd._bucket = TokenBucket(size, clock, capacity=size)  # one batch of burst
    fwd.step()
    assert len(pub.published) == 1
    clock.t += 0.5
    fwd.step()
    assert len(pub.published) == 1
    clock.t += 0.6
    fwd.step()
    assert len(pub.published) == 2


def test_forwarder_thread_delivers_and_stops(buffer: Buffer | MemoryBuffer) -> None:
    buffer.store_many(sample_findings(10))
    pub = FakePublisher()
    fwd = Forwarder(buffer, pub, sensor_id="pi-1", key_id=SIGNER.key_id, epoch=EPOCH, tick_s=0.01)
    fwd.start()
    try:
        assert pub.publish_event.wait(10.0)
        pub.deliver_ack(ack(0))
    finally:
        fwd.stop()
        fwd.stop()  # idempotent
    assert buffer.sealed() == []
    assert not pub.connected


def test_backoff_doubles_with_jitter_caps_and_resets() -> None:
    draws = iter([0.0, 1.0, 0.5, 0.0, 1.0, 0.0])
    backoff = Backoff(1.0, 4.0, rand=lambda: next(draws))
    # equal jitter: delay/2 + U(0, delay/2), delay = min(max, min * 2**attempt)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 2.0, 3.0, 2.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
