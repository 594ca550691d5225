"""Adversarial corpus (≥ 10,000 batches from SensorSimulator) and fuzzing of the verify path.

Expected values come from how the corpus was built, not from the collector: every valid
batch is accepted exactly once, every identical re-send is re-acked as duplicate, and every
forged, replayed, rolled-back, truncated, oversized, malformed, mis-addressed, unknown- or
revoked-key batch is rejected and leaves nothing behind.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest import Ingestor, Received
from collector.registry import add_sensor, revoke
from collector.store import Store, open_store
from collector.verify import KeyState, SensorKeys, verify
from tests.collector.conftest import NOW
from uplink.batch import MAX_BATCH_BYTES, AckStatus
from uplink.errors import WireError
from uplink.testing import SensorSimulator

SENSORS = 20
CORPUS_SIZE = 10_000


@dataclass(frozen=True)
class Case:
    topic: str
    raw: bytes
    expect: str  # "accepted", "duplicate", or a rejection reason
    findings: int = 0


def _build_corpus(
    size: int, seed: int
) -> tuple[list[SensorSimulator], SensorSimulator, list[Case]]:
    rng = random.Random(seed)
    sims = [
        SensorSimulator(f"pi-{i:04d}", f"site-{i % 4}", seed=bytes([i]) * 32)
        for i in range(SENSORS)
    ]
    revoked = SensorSimulator("pi-revoked", "site-0", seed=b"\xee" * 32)
    stranger = SensorSimulator("pi-stranger", "site-0", seed=b"\xdd" * 32)
    cases: list[Case] = []
    sent: list[Case] = []
    pending: list[Case] = []  # valid batches held back to arrive late (out of order)
    while len(cases) < size:
        sim = rng.choice(sims)
        roll = rng.random()
        if roll < 0.40 or not sim.sent:
            n = rng.randint(1, 5)
            case = Case(sim.topic(), sim.next_batch(findings=n), "accepted", n)
            sent.append(case)
            if rng.random() < 0.2:
                pending.append(case)
            else:
                cases.append(case)
        elif roll < 0.50 and pending:
            cases.append(pending.pop(rng.randrange(len(pending))))
        elif roll < 0.58 and sent:
            prior = rng.choice(sent)
            if prior not in pending:
                cases.append(Case(prior.topic, prior.raw, "duplicate"))
        elif roll < 0.64:
            cases.append(
                Case(
                    sim.topic(),
                    sim.tampered(rng.choice(sim.sent), offset=rng.randrange(-64, 0)),
                    "bad_signature",
                )
            )
        elif roll < 0.68:
            raw = rng.choice(sim.sent)
            start = 102 + len(sim.sensor_id)  # inside the compressed payload
            offset = rng.randrange(start, len(raw) - 64)
            cases.append(Case(sim.topic(), sim.tampered(raw, offset=offset), "bad_signature"))
        elif roll < 0.72:
            cases.append(Case(sim.topic(), sim.signed_by_other_key(), "bad_signature"))
        elif roll < 0.76:
            # Only a seq already delivered: of two signed versions, the first to arrive wins.
            delivered = [c for c in cases if c.expect == "accepted" and c.topic == sim.topic()]
            if delivered:
                seq = int.from_bytes(rng.choice(delivered).raw[22:30], "big")
                cases.append(Case(sim.topic(), sim.rolled_back(seq), "rollback"))
        elif roll < 0.80:
            other = rng.choice([s for s in sims if s is not sim])
            cases.append(Case(other.topic(), rng.choice(sim.sent), "identity_mismatch"))
        elif roll < 0.84:
            raw = rng.choice(sim.sent)
            cases.append(Case(sim.topic(), raw[: rng.randrange(len(raw))], "malformed"))
        elif roll < 0.86:
            raw = rng.choice(sim.sent)
            cases.append(
                Case(sim.topic(), raw + bytes(MAX_BATCH_BYTES + 1 - len(raw)), "oversized")
            )
        elif roll < 0.90:
            cases.append(Case(sim.topic(), rng.randbytes(rng.randrange(0, 400)), "malformed"))
        elif roll < 0.94:
            cases.append(Case(revoked.topic(), revoked.next_batch(findings=1), "revoked_key"))
        else:
            cases.append(Case(stranger.topic(), stranger.next_batch(findings=1), "unknown_sensor"))
    cases.extend(pending)
    return sims, revoked, cases


@pytest.fixture(scope="session")
def corpus_10k() -> tuple[list[SensorSimulator], SensorSimulator, list[Case]]:
    return _build_corpus(CORPUS_SIZE, seed=6)


@pytest.fixture(scope="session")
def corpus_small() -> tuple[list[SensorSimulator], SensorSimulator, list[Case]]:
    return _build_corpus(800, seed=5)


def _run(
    store: Store,
    sims: list[SensorSimulator],
    revoked: SensorSimulator,
    cases: list[Case],
    group: int,
) -> None:
    for sim in [*sims, revoked]:
        add_sensor(store, sim.site, sim.sensor_id, now=NOW, public_key=sim.public_key_bytes)
    revoke(store, revoked.sensor_id, now=NOW)
    ingest = Ingestor(store)
    seen: set[bytes] = set()
    got: Counter[str] = Counter()
    for start in range(0, len(cases), group):
        chunk = cases[start : start + group]
        outcomes = ingest.handle_many([Received(c.topic, c.raw, NOW) for c in chunk])
        for case, out in zip(chunk, outcomes, strict=True):
            expect = case.expect
            if expect == "accepted" and case.raw in seen:
                expect = "duplicate"  # a valid batch delivered twice within the corpus
            if expect == "duplicate" and case.raw not in seen:
                expect = "accepted"
            actual = out.status.value if out.status is not AckStatus.REJECTED else out.reason
            assert actual == expect, (case.topic, expect, actual)
            if out.status in (AckStatus.ACCEPTED, AckStatus.DUPLICATE):
                seen.add(case.raw)
                assert out.ack is not None and out.ack_topic == case.topic.replace(
                    "/batches", "/acks"
                )
            got[actual] += 1
    valid = {c.raw: c.findings for c in cases if c.expect == "accepted"}
    with store.transaction() as tx:
        batches = tx.fetchone('SELECT COUNT(*) FROM "Batches"')
        findings = tx.fetchone('SELECT SUM("FindingsIngested") FROM "Sensors"')
        stored = tx.fetchone(
            'SELECT (SELECT COUNT(*) FROM "Alerts") + (SELECT COUNT(*) FROM "Recommendations")'
        )
        gaps = tx.fetchone('SELECT COUNT(*) FROM "SequenceGaps"')
    assert batches == (len(valid),)  # 0 double ingests, 0 forgeries stored
    assert findings == (sum(valid.values()),)
    assert stored == (sum(valid.values()),)  # sample findings have unique dedup keys
    assert gaps == (0,)  # every held-back batch filled its gap
    assert got["accepted"] == len(valid)
    assert sum(got.values()) == len(cases)


def test_adversarial_corpus_of_10000_batches_accepts_no_forgery_and_ingests_once(
    tmp_path: Any, corpus_10k: tuple[list[SensorSimulator], SensorSimulator, list[Case]]
) -> None:
    sims, revoked, cases = corpus_10k
    store = open_store(str(tmp_path / "c.db"))
    assert len(cases) >= CORPUS_SIZE
    kinds = Counter(c.expect for c in cases)
    assert set(kinds) >= {
        "accepted", "duplicate", "bad_signature", "rollback", "identity_mismatch",
        "malformed", "oversized", "revoked_key", "unknown_sensor",
    }  # fmt: skip
    try:
        _run(store, sims, revoked, cases, group=100)
    finally:
        store.close()


def test_adversarial_corpus_on_both_engines(
    store: Store, corpus_small: tuple[list[SensorSimulator], SensorSimulator, list[Case]]
) -> None:
    # The 10,000-batch run above is SQLite; on both engines a smaller corpus here, and the
    # 30,000-batch one-at-a-time run in the slow set (below).
    sims, revoked, cases = corpus_small
    _run(store, sims, revoked, cases, group=100)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # one transaction per batch: minutes on PostgreSQL
def test_adversarial_corpus_of_30000_batches_one_at_a_time(store: Store) -> None:
    sims, revoked, cases = _build_corpus(30_000, seed=7)
    _run(store, sims, revoked, cases, group=1)


_SIM = SensorSimulator("pi-fuzz", "site-f", seed=b"\x07" * 32)
_VALID = [_SIM.next_batch(findings=3) for _ in range(3)]
_KEYS = SensorKeys("site-f", {_SIM.key_id: KeyState("site-f", _SIM.public_key_bytes)})


def _registry(sensor_id: str, key_id: str | None = None, /) -> SensorKeys | None:
    return _KEYS if sensor_id == "pi-fuzz" else None


def _verify(raw: bytes) -> Any:
    return verify(_SIM.topic(), raw, _registry, now=NOW, max_bytes=MAX_BATCH_BYTES)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_verify_raises_only_wire_errors_on_arbitrary_bytes(raw: bytes) -> None:
    with pytest.raises(WireError):
        _verify(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(_VALID),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4),
)
def test_verify_rejects_every_bit_flipped_batch(raw: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(raw)
    for pos, mask in flips:
        data[pos % len(data)] ^= mask
    if bytes(data) == raw:
        return
    with pytest.raises(WireError):
        _verify(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 300))
def test_verify_rejects_every_truncation_and_extension(raw: bytes, cut: int) -> None:
    with pytest.raises(WireError):
        _verify(raw[: len(raw) - 1 - cut] if cut % 2 else raw + bytes(cut + 1))
