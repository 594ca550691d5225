"""The shared wire vectors verify exactly as documented (docs/wire-format.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vectors import load_wire_vectors
from uplink.batch import (
    HEADER_BYTES,
    Signer,
    batch_hash,
    decode_ack,
    item_to_json,
    parse_envelope,
    public_key_from_bytes,
    verify_batch,
    verify_command,
)
from uplink.errors import WireError

VECTORS = load_wire_vectors()
SENSOR_KEY = bytes.fromhex(VECTORS["sensor_key"]["public_key_hex"])
COLLECTOR_KEY = public_key_from_bytes(bytes.fromhex(VECTORS["collector_key"]["public_key_hex"]))


def _by_name(section: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in VECTORS[section]]


def _lookup(sensor_id: str, key_id: str) -> bytes | None:
    known = (VECTORS["sensor_id"], VECTORS["sensor_key"]["key_id"])
    return SENSOR_KEY if (sensor_id, key_id) == known else None


@pytest.mark.parametrize(
    ("section", "seed_hex", "public_hex"),
    [
        # RFC 8032 §7.1 TEST 1 and TEST 2: SECRET KEY -> PUBLIC KEY.
        ("sensor_key", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        ("collector_key", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
    ],
)  # fmt: skip
def test_vector_keys_are_the_rfc8032_test_keys(
    section: str, seed_hex: str, public_hex: str
) -> None:
    assert VECTORS[section]["seed_hex"] == seed_hex
    assert VECTORS[section]["public_key_hex"] == public_hex
    assert Signer.from_seed(bytes.fromhex(seed_hex)).public_key_bytes.hex() == public_hex


@pytest.mark.parametrize("vector", _by_name("batches"))
def test_batch_vector_verifies_to_its_expected_result(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    try:
        batch = verify_batch(raw, _lookup, expected_sensor=VECTORS["sensor_id"])
    except WireError as exc:
        assert exc.reason == vector["expected"]
        return
    assert vector["expected"] == "ok"
    assert [item_to_json(i) for i in batch.items] == vector["items"]
    assert batch.header.seq == vector["seq"]
    assert batch.header.prev_hash.hex() == vector["prev_hash"]


def test_chained_vector_prev_hash_is_sha256_of_the_first_batch() -> None:
    first, second = (bytes.fromhex(v["hex"]) for v in VECTORS["batches"][:2])
    assert parse_envelope(second).header.prev_hash == batch_hash(first)


def test_first_vector_header_bytes_match_the_documented_layout() -> None:
    raw = bytes.fromhex(VECTORS["batches"][0]["hex"])
    # docs/wire-format.md: "BW", version 1, flags (bit 0 clock_synced), codec 1 = zlib.
    assert raw[:6] == b"BW\x01\x01\x01" + bytes([len(VECTORS["sensor_id"])])
    assert raw[6:14].hex() == VECTORS["sensor_key"]["key_id"]
    assert int.from_bytes(raw[14:22], "big") == VECTORS["epoch"]
    assert raw[HEADER_BYTES : HEADER_BYTES + 7] == VECTORS["sensor_id"].encode()
    # RFC 1950: a zlib stream at the best level starts 0x78 0xDA.
    assert raw[HEADER_BYTES + 7 : HEADER_BYTES + 9] == b"\x78\xda"


@pytest.mark.parametrize("vector", _by_name("acks"))
def test_ack_vector_decodes_to_its_expected_result(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    try:
        ack = decode_ack(raw, COLLECTOR_KEY)
    except WireError as exc:
        if vector["expected"] == "ok_unsigned":
            assert exc.reason == "bad_signature"
            ack = decode_ack(raw, None)
        else:
            assert exc.reason == vector["expected"]
            return
    else:
        assert vector["expected"] == "ok"
    assert {
        "sensor_id": ack.sensor_id,
        "key_id": ack.key_id,
        "epoch": ack.epoch,
        "seq": ack.seq,
        "status": str(ack.status),
        "reason": ack.reason,
    } == vector["ack"]


@pytest.mark.parametrize("vector", _by_name("commands"))
def test_command_vector_verifies_to_its_expected_result(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    try:
        command = verify_command(
            raw, COLLECTOR_KEY, sensor_id=VECTORS["sensor_id"], last_counter=vector["last_counter"]
        )
    except WireError as exc:
        assert exc.reason == vector["expected"]
        return
    assert vector["expected"] == "ok"
    assert command.counter == vector["command"]["counter"]
    assert str(command.name) == vector["command"]["name"]
