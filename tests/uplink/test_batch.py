"""The wire contract: limits, verify-before-parse, items, acks, commands, topics."""

from __future__ import annotations

import zlib

import pytest

from uplink.batch import (
    MAX_ACK_BYTES,
    MAX_BATCH_BYTES,
    MAX_PAYLOAD_RAW_BYTES,
    Ack,
    AckStatus,
    Codec,
    Command,
    CommandName,
    DeviceUpsert,
    GapItem,
    HealthItem,
    KeyRotation,
    Signer,
    TopicKind,
    batch_hash,
    decode_ack,
    encode_ack,
    encode_batch,
    encode_command,
    encode_envelope,
    item_from_json,
    item_to_json,
    parse_envelope,
    parse_topic,
    topic,
    verify_batch,
    verify_command,
)
from uplink.errors import (
    BatchTooLargeError,
    IdentityMismatchError,
    ReplayError,
    SchemaError,
    SignatureError,
    UnknownKeyError,
    WireError,
)
from uplink.testing import SensorSimulator, sample_findings


@pytest.fixture
def sim() -> SensorSimulator:
    return SensorSimulator(seed=bytes(32))


def test_batch_of_exactly_256_kib_is_accepted(sim: SensorSimulator) -> None:
    raw = sim.batch_of_size(MAX_BATCH_BYTES)
    assert len(raw) == 262144
    assert len(verify_batch(raw, sim.public_key_bytes).items) == 1


def test_batch_one_byte_over_256_kib_is_rejected_before_the_signature(sim: SensorSimulator) -> None:
    raw = sim.oversized()
    assert len(raw) == 262145
    with pytest.raises(BatchTooLargeError) as exc:
        verify_batch(raw, lambda sensor, key: pytest.fail("key lookup before size check"))
    assert exc.value.reason == "oversized"


def test_encoder_refuses_to_produce_an_oversized_batch(sim: SensorSimulator) -> None:
    with pytest.raises(BatchTooLargeError):
        encode_batch(sim.header(), [HealthItem(0.0, "x" * 300_000)], sim.signer, level=0)


def test_valid_chain_links_prev_hash_to_the_previous_batch(sim: SensorSimulator) -> None:
    first, second = sim.next_batch(), sim.next_batch()
    assert parse_envelope(first).header.prev_hash == bytes(32)
    assert parse_envelope(second).header.prev_hash == batch_hash(first)
    assert parse_envelope(second).header.seq == 1


@pytest.mark.parametrize("offset", [10, 40, 120, -100, -1])
def test_any_flipped_bit_fails_verification(sim: SensorSimulator, offset: int) -> None:
    raw = sim.next_batch()
    with pytest.raises(WireError) as exc:
        verify_batch(sim.tampered(raw, offset), sim.public_key_bytes)
    assert exc.value.reason in ("bad_signature", "malformed", "unknown_key")


def test_signature_by_another_key_is_bad_signature(sim: SensorSimulator) -> None:
    with pytest.raises(SignatureError):
        verify_batch(sim.signed_by_other_key(), sim.public_key_bytes)


def test_unknown_key_is_rejected(sim: SensorSimulator) -> None:
    with pytest.raises(UnknownKeyError):
        verify_batch(sim.next_batch(), lambda sensor, key: None)


def test_batch_on_another_sensors_topic_is_identity_mismatch(sim: SensorSimulator) -> None:
    with pytest.raises(IdentityMismatchError):
        verify_batch(sim.next_batch(), sim.public_key_bytes, expected_sensor="pi-9999")


def test_zip_bomb_payload_is_rejected_after_signature(sim: SensorSimulator) -> None:
    bomb = zlib.compress(b"[" + b" " * (MAX_PAYLOAD_RAW_BYTES + 10) + b"]", 9)
    raw = encode_envelope(sim.header(), Codec.ZLIB, 0, bomb, sim.signer)
    with pytest.raises(SchemaError):
        verify_batch(raw, sim.public_key_bytes)


def _signed_payload(sim: SensorSimulator, text: bytes, items: int = 1) -> bytes:
    return encode_envelope(sim.header(), Codec.ZLIB, items, zlib.compress(text), sim.signer)


_FINDING = (
    b'{"attack_technique":"","count":COUNT,"dedup_key":"k","devices":["00:1b:a9:00:00:01"],'
    b'"evidence":{},"first_seen":FIRST,"kind":"recommendation","last_seen":2.0,'
    b'"rule_id":"telnet-exposed","severity":"high","status":"unhealthy","title":"t",'
    b'"type":"recommendation"}'
)


def test_well_formed_payload_of_the_strict_tests_decodes(sim: SensorSimulator) -> None:
    # The control for the three tests below: only the value they change differs.
    text = b"[" + _FINDING.replace(b"COUNT", b"3").replace(b"FIRST", b"1.0") + b"]"
    (item,) = verify_batch(_signed_payload(sim, text), sim.public_key_bytes).items
    assert item_to_json(item)["count"] == 3


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_not_json(sim: SensorSimulator, constant: bytes) -> None:
    # RFC 8259 section 6: NaN and Infinity are not permitted; 1e400 overflows a double.
    text = b"[" + _FINDING.replace(b"COUNT", b"3").replace(b"FIRST", constant) + b"]"
    with pytest.raises(SchemaError, match="not JSON"):
        verify_batch(_signed_payload(sim, text), sim.public_key_bytes)


def test_count_beyond_64_bits_is_a_schema_error_not_a_database_overflow(
    sim: SensorSimulator,
) -> None:
    text = b"[" + _FINDING.replace(b"COUNT", b"1" + b"0" * 30).replace(b"FIRST", b"1.0") + b"]"
    with pytest.raises(SchemaError):
        verify_batch(_signed_payload(sim, text), sim.public_key_bytes)


def test_lone_surrogate_escape_is_not_json(sim: SensorSimulator) -> None:
    # RFC 8259 section 8.2: a lone surrogate is not a Unicode character (not UTF-8 encodable).
    text = b"[" + _FINDING.replace(b"COUNT", b"3").replace(b"FIRST", b"1.0") + b"]"
    text = text.replace(b'"title":"t"', b'"title":"\\ud800"')
    with pytest.raises(SchemaError, match="not JSON"):
        verify_batch(_signed_payload(sim, text), sim.public_key_bytes)


@pytest.mark.parametrize(
    "item",
    [
        DeviceUpsert("00:1b:a9:12:34:56", 1.5, {"vendor": "Brother", "ips": ["10.0.0.2"]}, True),
        HealthItem(2.0, "W", {"publish_failures": 3}),
        GapItem(3.0, ((1, 4), (7, 7)), 5, 1200),
        KeyRotation(4.0, Signer.from_seed(bytes(32)).public_key_bytes, 99),
        *sample_findings(3),
    ],
)
def test_item_round_trips_through_its_wire_json(item: object) -> None:
    wire = item_to_json(item)  # type: ignore[arg-type]
    assert item_from_json(wire) == item


@pytest.mark.parametrize(
    "wire",
    [
        {"type": "device", "mac": "00:1B:A9:12:34:56", "at": 1, "full": True, "fields": {}},
        {"type": "device", "mac": "00:1b:a9:12:34:56", "at": 1, "full": True},
        {"type": "health", "at": 1, "state": "OK", "counters": {"x": "1"}},
        {"type": "gap", "at": 1, "ranges": [[5, 2]], "batches": 1, "items": 1, "reason": "evicted"},
        {"type": "key_rotation", "at": 1, "new_key_id": "00" * 8, "new_public_key": "00" * 32,
         "new_epoch": 1},
        {"type": "telemetry", "at": 1},
        ["not", "an", "object"],
    ],
)  # fmt: skip
def test_malformed_item_is_a_schema_error(wire: object) -> None:
    with pytest.raises(SchemaError):
        item_from_json(wire)


def test_finding_item_carries_the_finding_to_json_shape() -> None:
    (item,) = sample_findings(1)
    wire = item_to_json(item)
    assert wire["type"] == "recommendation"
    assert {k: v for k, v in wire.items() if k not in ("type", "dedup_key")} == (
        item.finding.to_json()  # type: ignore[union-attr]
    )


def test_signed_ack_round_trips_and_a_forged_one_fails() -> None:
    collector = Signer.generate()
    ack = Ack("pi-1", "00" * 8, 7, 3, AckStatus.DUPLICATE)
    raw = encode_ack(ack, collector)
    assert decode_ack(raw, collector.public_key) == ack
    with pytest.raises(SignatureError):
        decode_ack(encode_ack(ack, Signer.generate()), collector.public_key)
    with pytest.raises(SignatureError):
        decode_ack(encode_ack(ack), collector.public_key)
    assert len(raw) <= MAX_ACK_BYTES


def test_command_counter_must_strictly_increase() -> None:
    collector = Signer.generate()
    raw = encode_command(Command("pi-1", 5, 0, CommandName.RESEND), collector)
    assert verify_command(raw, collector.public_key, sensor_id="pi-1", last_counter=4).counter == 5
    with pytest.raises(ReplayError):
        verify_command(raw, collector.public_key, sensor_id="pi-1", last_counter=5)


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "x" * 65, "-lead"])
def test_topic_refuses_names_that_break_the_topic_tree(bad: str) -> None:
    with pytest.raises(ValueError):
        topic(bad, "pi-1", TopicKind.BATCHES)


def test_topic_round_trips() -> None:
    value = topic("branch-1", "pi-1", TopicKind.ACKS)
    assert value == "branchwatch/branch-1/pi-1/acks"
    assert parse_topic(value) == ("branch-1", "pi-1", TopicKind.ACKS)
