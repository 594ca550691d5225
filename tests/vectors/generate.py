"""Regenerate tests/vectors/wire-v1.json: `python -m tests.vectors.generate`.

The vectors are the reference both sides test against (tests/uplink/test_vectors.py and the
collector's tests). Keys are the RFC 8032 §7.1 TEST 1 (sensor) and TEST 2 (collector) keys,
so anyone can check the key derivation independently. Regenerate only when the format
changes (with a version bump): a zlib of another version may compress differently, which
changes the bytes but not the verification result.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from capture.findings import Finding, FindingKind, Severity, Status
from uplink.batch import (
    GENESIS_HASH,
    Ack,
    AckStatus,
    BatchHeader,
    Codec,
    Command,
    CommandName,
    DeviceUpsert,
    FindingItem,
    GapItem,
    HealthItem,
    KeyRotation,
    Signer,
    batch_hash,
    encode_ack,
    encode_batch,
    encode_command,
    encode_envelope,
    encode_items,
    item_to_json,
)

OUT = Path(__file__).with_name("wire-v1.json")
# RFC 8032 §7.1 TEST 1 and TEST 2 secret keys.
SENSOR_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
COLLECTOR_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
OTHER_SEED = bytes(range(32))
SENSOR_ID = "pi-0001"
SITE = "branch-42"
EPOCH = 0x1122334455667788
BOOT_ID = "6f1c2a4e-8d3b-4c5a-9e7f-0123456789ab"


def _items() -> list[Any]:
    telnet = Finding(
        kind=FindingKind.RECOMMENDATION,
        rule_id="telnet-exposed",
        title="Disable insecure administration protocol – Telnet",
        severity=Severity.HIGH,
        devices=("00:1b:a9:12:34:56",),
        first_seen=1764237600.0,
        last_seen=1764241200.5,
        count=3,
        evidence={"flow": ["192.168.1.20", 23, "192.168.1.5", 51000, "tcp"]},
    )
    scan = Finding(
        kind=FindingKind.ALERT,
        rule_id="port-scan",
        title="Port scan",
        severity=Severity.MEDIUM,
        devices=("3c:22:fb:00:00:01", "00:1b:a9:12:34:56"),
        first_seen=1764240000.0,
        last_seen=1764240090.0,
        count=1,
        attack_technique="T1046",
        status=Status.ACTIVE,
        evidence={"ports": 31, "window_s": 120.0},
    )
    return [
        DeviceUpsert(
            "00:1b:a9:12:34:56",
            1764237600.0,
            {"vendor": "Brother", "type": "printer", "ips": ["192.168.1.20"]},
            True,
        ),
        FindingItem(telnet),
        FindingItem(scan),
        HealthItem(1764241200.0, "OK", {"packets": 123456, "dropped": 0}),
        GapItem(1764241200.0, ((3, 5), (9, 9)), 4, 812),
        KeyRotation(
            1764241200.0, Signer.from_seed(OTHER_SEED).public_key_bytes, 0x0102030405060708
        ),
    ]


def _header(seq: int, prev: bytes, signer: Signer, **over: Any) -> BatchHeader:
    fields: dict[str, Any] = {
        "sensor_id": SENSOR_ID,
        "key_id": signer.key_id,
        "epoch": EPOCH,
        "seq": seq,
        "prev_hash": prev,
        "created_at_ms": 1764241200123,
        "mono_ms": 86400000 + seq,
        "boot_id": BOOT_ID,
        "clock_synced": True,
    }
    fields.update(over)
    return BatchHeader(**fields)


def _flip(raw: bytes, offset: int) -> bytes:
    return raw[:offset] + bytes([raw[offset] ^ 0x01]) + raw[offset + 1 :]


def _vector(name: str, raw: bytes, expected: str, note: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "hex": raw.hex(), "expected": expected, "note": note, **extra}


def build() -> dict[str, Any]:
    sensor, collector, other = (
        Signer.from_seed(s) for s in (SENSOR_SEED, COLLECTOR_SEED, OTHER_SEED)
    )
    items = _items()
    first = encode_batch(_header(0, GENESIS_HASH, sensor), items, sensor)
    second = encode_batch(
        _header(1, batch_hash(first), sensor, clock_synced=False), items[3:4], sensor
    )
    sensor_len = len(SENSOR_ID)
    payload_at = 102 + sensor_len
    bad_count = encode_envelope(
        _header(2, batch_hash(second), sensor),
        Codec.ZLIB,
        7,
        zlib.compress(encode_items([item_to_json(i) for i in items])),
        sensor,
    )
    not_zlib = encode_envelope(
        _header(2, batch_hash(second), sensor), Codec.ZLIB, 1, b"not zlib", sensor
    )
    v2 = bytearray(first)
    v2[2] = 2
    batches = [
        _vector(
            "valid-first",
            first,
            "ok",
            "seq 0, prev_hash = 32 zero bytes, all six item types",
            items=[item_to_json(i) for i in items],
            seq=0,
            prev_hash=GENESIS_HASH.hex(),
        ),
        _vector(
            "valid-chained",
            second,
            "ok",
            "seq 1, prev_hash = SHA-256 of valid-first, clock not synced",
            items=[item_to_json(items[3])],
            seq=1,
            prev_hash=batch_hash(first).hex(),
        ),
        _vector(
            "tampered-payload",
            _flip(first, payload_at + 10),
            "bad_signature",
            "one payload bit flipped",
        ),
        _vector(
            "tampered-seq",
            _flip(first, 30),
            "bad_signature",
            "lowest bit of batch_seq flipped (seq 0 -> 1)",
        ),
        _vector(
            "tampered-signature",
            _flip(first, len(first) - 1),
            "bad_signature",
            "last signature bit flipped",
        ),
        _vector(
            "signed-by-other-key",
            encode_batch(_header(0, GENESIS_HASH, other), items, other),
            "unknown_key",
            "key_id of a key the receiver does not know",
        ),
        _vector(
            "wrong-key-same-id",
            first[:-64] + other.sign(first[:-64]),
            "bad_signature",
            "header names the sensor key, signature made with another key",
        ),
        _vector("truncated", first[:-1], "malformed", "last byte missing"),
        _vector("trailing-byte", first + b"\x00", "malformed", "one byte appended"),
        _vector("version-2", bytes(v2), "unsupported_version", "version byte set to 2"),
        _vector(
            "reserved-flag",
            bytes(first[:3]) + bytes([first[3] | 0x80]) + first[4:],
            "malformed",
            "reserved flag bit 7 set",
        ),
        _vector(
            "item-count-mismatch", bad_count, "schema", "signed; header says 7 items, payload has 6"
        ),
        _vector("payload-not-zlib", not_zlib, "schema", "signed; payload is not a zlib stream"),
    ]
    ack = Ack(SENSOR_ID, sensor.key_id, EPOCH, 0, AckStatus.ACCEPTED)
    dup = Ack(SENSOR_ID, sensor.key_id, EPOCH, 1, AckStatus.DUPLICATE)
    rejected = Ack(SENSOR_ID, sensor.key_id, EPOCH, 2, AckStatus.REJECTED, "bad_signature")
    signed_ack = encode_ack(ack, collector)
    acks = [
        _vector(
            "ack-signed",
            signed_ack,
            "ok",
            "signed by the collector key",
            ack={
                "sensor_id": SENSOR_ID,
                "key_id": sensor.key_id,
                "epoch": EPOCH,
                "seq": 0,
                "status": "accepted",
                "reason": "",
            },
        ),
        _vector(
            "ack-unsigned-duplicate",
            encode_ack(dup),
            "ok_unsigned",
            "valid only if the sensor does not require signed acks",
            ack={
                "sensor_id": SENSOR_ID,
                "key_id": sensor.key_id,
                "epoch": EPOCH,
                "seq": 1,
                "status": "duplicate",
                "reason": "",
            },
        ),
        _vector(
            "ack-rejected",
            encode_ack(rejected, collector),
            "ok",
            "status rejected with reason",
            ack={
                "sensor_id": SENSOR_ID,
                "key_id": sensor.key_id,
                "epoch": EPOCH,
                "seq": 2,
                "status": "rejected",
                "reason": "bad_signature",
            },
        ),
        _vector("ack-tampered", _flip(signed_ack, 20), "bad_signature", "one body bit flipped"),
    ]
    cmd = Command(SENSOR_ID, 7, 1764241200000, CommandName.SNAPSHOT, {})
    signed_cmd = encode_command(cmd, collector)
    commands = [
        _vector(
            "command-snapshot",
            signed_cmd,
            "ok",
            "counter 7; accept when last_counter < 7",
            command={
                "sensor_id": SENSOR_ID,
                "counter": 7,
                "issued_at_ms": 1764241200000,
                "name": "snapshot",
                "args": {},
            },
            last_counter=6,
        ),
        _vector(
            "command-replayed",
            signed_cmd,
            "replay",
            "same command when last_counter is already 7",
            last_counter=7,
        ),
        _vector(
            "command-tampered",
            _flip(signed_cmd, 12),
            "bad_signature",
            "one body bit flipped",
            last_counter=0,
        ),
        _vector(
            "command-other-sensor",
            encode_command(Command("pi-0002", 8, 1764241200000, CommandName.REBOOT), collector),
            "identity_mismatch",
            "addressed to pi-0002",
            last_counter=0,
        ),
    ]
    return {
        "format_version": 1,
        "site": SITE,
        "sensor_id": SENSOR_ID,
        "epoch": EPOCH,
        "sensor_key": {
            "seed_hex": SENSOR_SEED.hex(),
            "public_key_hex": sensor.public_key_bytes.hex(),
            "key_id": sensor.key_id,
        },
        "collector_key": {
            "seed_hex": COLLECTOR_SEED.hex(),
            "public_key_hex": collector.public_key_bytes.hex(),
            "key_id": collector.key_id,
        },
        "other_key": {
            "seed_hex": OTHER_SEED.hex(),
            "public_key_hex": other.public_key_bytes.hex(),
            "key_id": other.key_id,
        },
        "batches": batches,
        "acks": acks,
        "commands": commands,
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
