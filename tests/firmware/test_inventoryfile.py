"""The saved inventory file: atomic, private, damage detected, bounded, written only on change."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from firmware import inventoryfile
from firmware.inventoryfile import InventoryFileError, InventorySaver

STATE = {"subnets": ["10.0.0.0/24"], "gateways": {}, "devices": []}


def test_a_saved_inventory_loads_back_with_its_time(tmp_path: Path) -> None:
    saver = InventorySaver(tmp_path / inventoryfile.FILENAME)
    assert saver.save(STATE, 1_800_000_000.5)
    loaded = inventoryfile.load(saver.path)
    assert loaded is not None
    assert (loaded.saved_at, loaded.state) == (1_800_000_000.5, STATE)
    assert saver.path.stat().st_mode & 0o777 == 0o600  # it holds host names
    doc = json.loads(gzip.decompress(saver.path.read_bytes()))
    assert (doc["format"], doc["version"]) == ("branchwatch-inventory", 1)


def test_the_open_findings_travel_with_the_inventory(tmp_path: Path) -> None:
    saver = InventorySaver(tmp_path / inventoryfile.FILENAME)
    rules = {"findings": [{"rule_id": "telnet-enabled"}]}
    assert saver.save(STATE, 5.0, rules)
    loaded = inventoryfile.load(saver.path)
    assert loaded is not None and (loaded.state, loaded.rules) == (STATE, rules)
    assert saver.save(STATE, 6.0, {"findings": []})  # a change of findings alone is saved


def test_an_unchanged_inventory_is_not_written_again(tmp_path: Path) -> None:
    saver = InventorySaver(tmp_path / inventoryfile.FILENAME)
    assert saver.save(STATE, 1.0)
    assert not saver.save(json.loads(json.dumps(STATE)), 2.0)
    assert saver.saves == 1 and saver.saved_at == 1.0
    assert saver.save({**STATE, "subnets": []}, 3.0)
    restored = InventorySaver(saver.path)
    restored.loaded({**STATE, "subnets": []})
    assert not restored.save({**STATE, "subnets": []}, 4.0)


def test_no_file_is_no_inventory(tmp_path: Path) -> None:
    assert inventoryfile.load(tmp_path / inventoryfile.FILENAME) is None


def good_bytes() -> bytes:
    return inventoryfile.encode(STATE, 1.0)


DAMAGE = {
    "empty": b"",
    "not gzip": b"{}",
    "truncated": good_bytes()[:-9],
    "trailing bytes": good_bytes() + b"\x00",
    "crc flipped": good_bytes()[:-8] + bytes([good_bytes()[-8] ^ 1]) + good_bytes()[-7:],
    "not json": gzip.compress(b"not json"),
    "json but not an object": gzip.compress(b"[1, 2]"),
    "another format": gzip.compress(json.dumps({"format": "x", "version": 1}).encode()),
    "a future version": gzip.compress(
        json.dumps({"format": inventoryfile.FORMAT, "version": 2}).encode()
    ),
    "no time": gzip.compress(
        json.dumps({"format": inventoryfile.FORMAT, "version": 1, "inventory": {}}).encode()
    ),
    "no inventory": gzip.compress(
        json.dumps({"format": inventoryfile.FORMAT, "version": 1, "saved_at": 1}).encode()
    ),
    "not ascii": gzip.compress(b'{"format": "\xff"}'),
    "rules not an object": gzip.compress(
        json.dumps(
            {
                "format": inventoryfile.FORMAT,
                "version": 1,
                "saved_at": 1,
                "inventory": {},
                "rules": [],
            }
        ).encode()
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_is_an_error_that_says_why(tmp_path: Path, damage: str) -> None:
    path = tmp_path / inventoryfile.FILENAME
    path.write_bytes(DAMAGE[damage])
    with pytest.raises(InventoryFileError, match=str(path)):
        inventoryfile.load(path)


def test_a_file_decompressing_beyond_the_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventoryfile, "DECOMPRESSED_MAX_BYTES", 1000)
    path = tmp_path / inventoryfile.FILENAME
    path.write_bytes(gzip.compress(b" " * 100_000))  # 100 KB of blanks in a few hundred bytes
    with pytest.raises(InventoryFileError, match="more than 1000 bytes"):
        inventoryfile.load(path)


def test_quarantine_keeps_the_bad_file_for_a_look(tmp_path: Path) -> None:
    path = tmp_path / inventoryfile.FILENAME
    path.write_bytes(b"bad")
    inventoryfile.quarantine(path)
    assert not path.exists()
    assert (tmp_path / (inventoryfile.FILENAME + ".bad")).read_bytes() == b"bad"


def test_a_failed_save_is_counted_and_the_previous_file_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="firmware.inventoryfile")
    saver = InventorySaver(tmp_path / inventoryfile.FILENAME)
    assert saver.save(STATE, 1.0)
    # The temp file's name is taken by a directory: the write fails like a full card would.
    blocker = tmp_path / (inventoryfile.FILENAME + ".tmp")
    blocker.mkdir()
    assert not saver.save({**STATE, "subnets": []}, 2.0)
    assert not saver.save({**STATE, "subnets": []}, 3.0)
    assert saver.failures == 2
    assert caplog.text.count("cannot save the inventory") == 1  # the transition, once
    loaded = inventoryfile.load(saver.path)
    assert loaded is not None and loaded.state == STATE
    blocker.rmdir()
    assert saver.save({**STATE, "subnets": []}, 4.0)
    assert "saved to" in caplog.text and "again" in caplog.text
