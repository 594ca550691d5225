"""Ingest: verification order, sequence rules, idempotence, devices newer-wins (both engines)."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from collector.ingest import Ingestor, Received, cyclic_gc_paused
from collector.registry import add_sensor, revoke, rotate_key
from collector.store import Store
from tests.collector.conftest import NOW, Sensor
from tests.collector.items import device, scan_alert, telnet_finding
from uplink.batch import (
    GENESIS_HASH,
    MAX_BATCH_BYTES,
    AckStatus,
    GapItem,
    KeyRotation,
    Signer,
    encode_envelope,
)

MAC = "00:0c:29:aa:bb:01"


def rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with store.transaction() as tx:
        return tx.fetchall(sql, params)


def received(sensor: Sensor, raw: bytes, topic: str | None = None) -> Received:
    return Received(topic or sensor.topic, raw, NOW + 5)


@pytest.fixture
def sensor(store: Store) -> Sensor:
    s = Sensor()
    s.register(store)
    return s


def test_ingest_accepts_a_signed_batch_and_acks_on_the_sensors_ack_topic(
    store: Store, sensor: Sensor
) -> None:
    out = Ingestor(store).handle(received(sensor, sensor.batch([telnet_finding(MAC, NOW)])))
    assert out.status is AckStatus.ACCEPTED
    assert out.ack_topic == "branchwatch/branch-42/pi-0001/acks"
    assert out.ack is not None and (out.ack.seq, out.ack.key_id) == (0, sensor.signer.key_id)
    assert rows(store, 'SELECT "DeviceId", "RuleId", "Status" FROM "Recommendations"') == [
        ("pi-0001/" + MAC, "telnet-exposed", "unhealthy")
    ]


def test_identical_resend_is_reacked_as_duplicate_and_not_ingested_twice(
    store: Store, sensor: Sensor
) -> None:
    ingest = Ingestor(store)
    raw = sensor.batch([scan_alert(MAC, NOW)])
    assert ingest.handle(received(sensor, raw)).status is AckStatus.ACCEPTED
    again = ingest.handle(received(sensor, raw))
    assert again.status is AckStatus.DUPLICATE and again.ack is not None
    assert rows(store, 'SELECT "BatchesIngested", "DuplicateBatches" FROM "Sensors"') == [(1, 1)]
    assert rows(store, 'SELECT COUNT(*) FROM "Alerts"') == [(1,)]


def test_same_seq_with_other_bytes_is_a_rollback_alarm(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    ingest.handle(received(sensor, sensor.batch([scan_alert(MAC, NOW)])))
    forged = sensor.batch([scan_alert(MAC, NOW, 1)], seq=0, prev_hash=GENESIS_HASH)
    out = ingest.handle(received(sensor, forged))
    assert (out.status, out.reason) == (AckStatus.REJECTED, "rollback")
    assert rows(store, 'SELECT "Kind" FROM "SensorAlarms"') == [("rollback",)]


def test_a_gap_is_recorded_and_the_late_batch_filling_it_is_ingested(
    store: Store, sensor: Sensor
) -> None:
    ingest = Ingestor(store)
    b0 = sensor.batch([scan_alert(MAC, NOW, 0)])
    b1 = sensor.batch([scan_alert(MAC, NOW, 1)])
    b2 = sensor.batch([scan_alert(MAC, NOW, 2)])
    for raw in (b0, b2):
        assert ingest.handle(received(sensor, raw)).status is AckStatus.ACCEPTED
    assert rows(store, 'SELECT "FirstSeq", "LastSeq" FROM "SequenceGaps"') == [(1, 1)]
    assert rows(store, 'SELECT "GapBatches" FROM "Sensors"') == [(1,)]
    assert ingest.handle(received(sensor, b1)).status is AckStatus.ACCEPTED
    assert rows(store, 'SELECT COUNT(*) FROM "SequenceGaps"') == [(0,)]
    assert rows(store, 'SELECT "GapBatches", "BatchesIngested" FROM "Sensors"') == [(0, 3)]


def test_an_old_seq_outside_any_gap_is_a_replay(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    b0 = sensor.batch([scan_alert(MAC, NOW, 0)])
    ingest.handle(received(sensor, b0))
    ingest.handle(received(sensor, sensor.batch([scan_alert(MAC, NOW, 1)])))
    # Retention pruned the record of seq 0: the stream still remembers it was passed.
    with store.transaction() as tx:
        tx.execute('DELETE FROM "Batches" WHERE "BatchSeq" = 0')
    out = ingest.handle(received(sensor, b0))
    assert (out.status, out.reason) == (AckStatus.REJECTED, "replay")


def test_next_seq_that_does_not_chain_is_rejected(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    ingest.handle(received(sensor, sensor.batch([scan_alert(MAC, NOW, 0)])))
    out = ingest.handle(
        received(sensor, sensor.batch([scan_alert(MAC, NOW, 1)], prev_hash=b"\x01" * 32))
    )
    assert (out.status, out.reason) == (AckStatus.REJECTED, "rollback")


def test_gap_item_closes_evicted_ranges_and_counts_lost_items(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    ingest.handle(received(sensor, sensor.batch([scan_alert(MAC, NOW, 0)])))
    sensor.batch([scan_alert(MAC, NOW, 1)])  # seq 1, 2 evicted on the sensor
    sensor.batch([scan_alert(MAC, NOW, 2)])
    gap = GapItem(at=NOW, ranges=((1, 2),), batches=2, items=2)
    assert ingest.handle(received(sensor, sensor.batch([gap]))).status is AckStatus.ACCEPTED
    assert rows(store, 'SELECT COUNT(*) FROM "SequenceGaps"') == [(0,)]
    assert rows(store, 'SELECT "EvictedItems", "GapBatches" FROM "Sensors"') == [(2, 0)]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        ("oversized", "oversized"),
        ("truncated", "malformed"),
        ("other_topic", "identity_mismatch"),
        ("other_site", "identity_mismatch"),
        ("unknown_sensor", "unknown_sensor"),
        ("unknown_key", "unknown_key"),
        ("bad_signature", "bad_signature"),
    ],
)
def test_verification_failures_are_counted_by_reason_and_never_acked(
    store: Store, sensor: Sensor, mutate: str, reason: str
) -> None:
    add_sensor(
        store, "branch-42", "pi-0002", now=NOW, public_key=Signer.generate().public_key_bytes
    )
    raw = sensor.batch([scan_alert(MAC, NOW)], seq=0)
    topic = sensor.topic
    if mutate == "oversized":
        raw = raw + bytes(MAX_BATCH_BYTES + 1 - len(raw))
    elif mutate == "truncated":
        raw = raw[:-1]
    elif mutate == "other_topic":
        topic = "branchwatch/branch-42/pi-0002/batches"
    elif mutate == "other_site":
        topic = "branchwatch/branch-7/pi-0001/batches"
    elif mutate == "unknown_sensor":
        ghost = Sensor(sensor_id="pi-9999")
        raw, topic = ghost.batch([scan_alert(MAC, NOW)]), ghost.topic
    elif mutate == "unknown_key":
        raw = sensor.batch([scan_alert(MAC, NOW)], seq=0, signer=Signer.generate())
    elif mutate == "bad_signature":
        raw = raw[:-1] + bytes([raw[-1] ^ 1])
    ingest = Ingestor(store)
    out = ingest.handle(Received(topic, raw, NOW))
    assert (out.status, out.reason, out.ack) == (AckStatus.REJECTED, reason, None)
    assert ingest.counters.rejected[reason] == 1
    assert rows(store, 'SELECT COUNT(*) FROM "Batches"') == [(0,)]


def test_checks_run_in_order_size_before_identity_before_key_before_signature(
    store: Store, sensor: Sensor
) -> None:
    # One frame wrong in every way: the earliest check names it.
    ghost = Sensor(sensor_id="pi-9999")
    raw = ghost.batch([scan_alert(MAC, NOW)])
    bad_sig = raw[:-1] + bytes([raw[-1] ^ 1])
    ingest = Ingestor(store)
    wrong_topic = "branchwatch/branch-42/pi-0001/batches"
    assert (
        ingest.handle(Received(wrong_topic, bad_sig + bytes(MAX_BATCH_BYTES), NOW)).reason
        == "oversized"
    )
    assert ingest.handle(Received(wrong_topic, bad_sig, NOW)).reason == "identity_mismatch"
    assert ingest.handle(Received(ghost.topic, bad_sig, NOW)).reason == "unknown_sensor"
    # Signature before schema: a payload that is not zlib, under a bad signature.
    not_zlib = encode_envelope(sensor.header(), 1, 1, b"not zlib", sensor.signer, max_bytes=None)
    assert ingest.handle(received(sensor, not_zlib)).reason == "schema"
    assert (
        ingest.handle(received(sensor, not_zlib[:-1] + bytes([not_zlib[-1] ^ 1]))).reason
        == "bad_signature"
    )
    revoke(store, "pi-0001", now=NOW)
    revoked = sensor.batch([scan_alert(MAC, NOW)])
    assert (
        ingest.handle(received(sensor, revoked[:-1] + bytes([revoked[-1] ^ 1]))).reason
        == "revoked_key"
    )


def test_schema_error_after_a_valid_signature_is_acked_rejected(
    store: Store, sensor: Sensor
) -> None:
    raw = sensor.batch([{"type": "mystery"}])
    out = Ingestor(store).handle(received(sensor, raw))
    assert (out.status, out.reason) == (AckStatus.REJECTED, "schema")
    # Signed by the sensor: acked rejected so the sensor sets it aside; nothing stored.
    assert out.ack is not None and (out.ack.seq, out.ack.reason) == (0, "schema")
    assert rows(store, 'SELECT COUNT(*) FROM "Batches"') == [(0,)]


def test_revocation_applies_to_the_next_batch(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    assert (
        ingest.handle(received(sensor, sensor.batch([scan_alert(MAC, NOW, 0)]))).status
        is AckStatus.ACCEPTED
    )
    revoke(store, sensor.sensor_id, now=NOW)
    out = ingest.handle(received(sensor, sensor.batch([scan_alert(MAC, NOW, 1)])))
    assert (out.status, out.reason) == (AckStatus.REJECTED, "revoked_key")


def test_rotated_key_overlaps_then_old_key_expires(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    new = Signer.generate()
    rotate_key(store, sensor.sensor_id, new.public_key_bytes, now=NOW, overlap_s=60)
    assert (
        ingest.handle(
            Received(sensor.topic, sensor.batch([scan_alert(MAC, NOW, 0)]), NOW + 30)
        ).status
        is AckStatus.ACCEPTED
    )
    late = ingest.handle(Received(sensor.topic, sensor.batch([scan_alert(MAC, NOW, 1)]), NOW + 61))
    assert (late.status, late.reason) == (AckStatus.REJECTED, "revoked_key")
    fresh = Sensor(signer=new, epoch=7)
    assert (
        ingest.handle(
            Received(fresh.topic, fresh.batch([scan_alert(MAC, NOW, 2)]), NOW + 61)
        ).status
        is AckStatus.ACCEPTED
    )


def test_key_rotation_item_registers_the_announced_key(store: Store, sensor: Sensor) -> None:
    ingest = Ingestor(store)
    new = Signer.generate()
    item = KeyRotation(at=NOW, new_public_key=new.public_key_bytes, new_epoch=99)
    assert ingest.handle(received(sensor, sensor.batch([item]))).status is AckStatus.ACCEPTED
    rotated = Sensor(signer=new, epoch=99)
    assert (
        ingest.handle(received(rotated, rotated.batch([scan_alert(MAC, NOW)]))).status
        is AckStatus.ACCEPTED
    )


def test_device_upserts_apply_only_when_newer_and_firmware_change_is_kept(
    store: Store, sensor: Sensor
) -> None:
    ingest = Ingestor(store)
    b_old = sensor.batch(
        [device(MAC, NOW - 100, vendor="Hikvision", firmware="V5.4.0 build 160530")]
    )
    b_new = sensor.batch([device(MAC, NOW, vendor="Hikvision", firmware="V5.5.0 build 170725")])
    b_older = sensor.batch([device(MAC, NOW - 50, vendor="Axis", firmware="1.0")])
    for raw in (b_old, b_new, b_older):
        assert ingest.handle(received(sensor, raw)).status is AckStatus.ACCEPTED
    assert rows(
        store, 'SELECT "Vendor", "FirmwareVersion", "PreviousFirmwareVersion" FROM "DeviceInfo"'
    ) == [("Hikvision", "V5.5.0 build 170725", "V5.4.0 build 160530")]


def test_classification_changes_are_kept_as_events_malformed_ones_skipped(
    store: Store, sensor: Sensor
) -> None:
    change = {"at": NOW - 10, "field": "type", "before": None, "after": "ip_camera",
              "confidence": 0.95, "evidence": ["sadp model 'DS-2CD2043G2-I' -> x (0.95)"]}  # fmt: skip
    malformed = [
        "not an object",
        {**change, "field": "colour"},
        {**change, "at": "yesterday"},
        {**change, "confidence": "high"},
        {**change, "before": 5},
        {**change, "evidence": "one line"},
    ]
    ingest = Ingestor(store)
    newer = sensor.batch([device(MAC, NOW, type="ip_camera")])
    # An upsert older than the applied record is not applied, its events still count.
    older = sensor.batch([device(MAC, NOW - 5, changes=[change, *malformed])])
    for raw in (newer, older):
        assert ingest.handle(received(sensor, raw)).status is AckStatus.ACCEPTED
    assert rows(
        store,
        'SELECT "DeviceId", "Field", "Before", "After", "Confidence", "Evidence", "ChangedAt" '
        'FROM "DeviceClassificationChanges"',
    ) == [
        (f"{sensor.sensor_id}/{MAC}", "type", None, "ip_camera", 0.95,
         '["sadp model \'DS-2CD2043G2-I\' -> x (0.95)"]', NOW - 10)
    ]  # fmt: skip


def test_clock_skew_over_five_minutes_is_flagged_not_rejected(store: Store, sensor: Sensor) -> None:
    raw = sensor.batch([scan_alert(MAC, NOW)], created_at_ms=int((NOW - 3600) * 1000))
    out = Ingestor(store).handle(received(sensor, raw))
    assert out.status is AckStatus.ACCEPTED
    assert rows(store, 'SELECT "IsClockSkewed" FROM "Sensors"') == [(1,)]
    assert rows(store, 'SELECT "Kind" FROM "SensorAlarms"') == [("clock-skew",)]


def test_several_batches_in_one_transaction_each_get_their_outcome(
    store: Store, sensor: Sensor
) -> None:
    raws = [sensor.batch([scan_alert(MAC, NOW, n)]) for n in range(5)]
    outs = Ingestor(store).handle_many(
        [received(sensor, r) for r in reversed(raws)] + [received(sensor, raws[0])]
    )
    assert [o.status for o in outs[:5]] == [AckStatus.ACCEPTED] * 5
    assert outs[5].status is AckStatus.DUPLICATE
    assert rows(store, 'SELECT COUNT(*) FROM "Alerts"') == [(5,)]


def test_a_failing_rematch_does_not_withhold_the_ack_of_a_committed_batch(
    store: Store, sensor: Sensor
) -> None:
    def broken(device_ids: list[str]) -> None:
        raise RuntimeError("matcher bug")

    ingest = Ingestor(store, on_devices_changed=broken)
    out = ingest.handle(received(sensor, sensor.batch([device(MAC, NOW, vendor="HP")])))
    assert out.status is AckStatus.ACCEPTED and out.ack is not None
    assert ingest.counters.errors == 1
    assert rows(store, 'SELECT COUNT(*) FROM "DeviceInfo"') == [(1,)]


def test_the_cyclic_gc_is_paused_during_a_group_and_restored_after(
    store: Store, sensor: Sensor
) -> None:
    seen: list[bool] = []

    def changed(device_ids: list[str]) -> None:  # runs inside handle_many, after the commit
        seen.append(gc.isenabled())

    assert gc.isenabled()
    ingest = Ingestor(store, on_devices_changed=changed)
    out = ingest.handle(received(sensor, sensor.batch([device(MAC, NOW, vendor="HP")])))
    assert out.status is AckStatus.ACCEPTED
    assert seen == [False]
    assert gc.isenabled()


def test_gc_pauses_nest_and_keep_a_collector_that_was_already_off() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("ingest failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
