"""End to end, as `make demo` runs it: personas → branchwatch run --pcap → real Mosquitto (TLS,
client certificates, ACL) → collector on SQLite; the collector's rows are checked against the
persona labels and the risk scenario."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from capture.vendors import same_vendor
from firmware.demo import run_demo
from firmware.export import is_randomised_mac
from tests.broker import require_mosquitto
from tests.personas.scenario import expected_findings, labels

pytestmark = pytest.mark.broker


def test_demo_delivers_every_device_and_finding_to_the_collector(tmp_path: Path) -> None:
    require_mosquitto()
    root = tmp_path / "demo"
    assert run_demo(root, quiet=True) == 0  # capture consumed and every batch acknowledged
    with sqlite3.connect(root / "collector.db") as db:
        check_rows(db)
    db.close()


def check_rows(db: sqlite3.Connection) -> None:
    rows = {
        mac: (dtype, vendor, model)
        for mac, dtype, vendor, model in db.execute(
            'SELECT "MacAddress", "DeviceType", "Vendor", "Model" FROM "DeviceInfo"'
        )
    }
    truth = [x for x in labels() if x.get("mac") and not is_randomised_mac(str(x["mac"]))]
    # Every labelled device (universally administered MAC) reached the collector.
    missing = [x["mac"] for x in truth if x["mac"] not in rows]
    assert not missing
    # Randomised MACs (phones) arrive pseudonymised, never in clear.
    for x in labels():
        if x.get("mac") and is_randomised_mac(str(x["mac"])):
            assert x["mac"] not in rows
    # What the collector shows is right: no wrong type or vendor, high coverage.
    typed = [x for x in truth if x.get("type")]
    answered = [x for x in typed if rows[x["mac"]][0]]
    wrong = [
        (x["mac"], x["type"], rows[x["mac"]][0]) for x in answered if rows[x["mac"]][0] != x["type"]
    ]
    assert not wrong
    assert len(answered) / len(typed) >= 0.85
    vendors = [x for x in truth if x.get("vendor") and rows[x["mac"]][1]]
    wrong_vendor = [
        x["mac"] for x in vendors if not same_vendor(str(x["vendor"]), rows[x["mac"]][1])
    ]
    assert not wrong_vendor
    # The scenario's recommendations and alert, with the right devices.
    found = set()
    for rule, device in db.execute('SELECT "RuleId", "DeviceId" FROM "Recommendations"'):
        found.add((rule, device.split("/", 1)[1]))
    for rule, devices in db.execute('SELECT "RuleId", "DeviceIds" FROM "Alerts"'):
        found.add((rule, json.loads(devices)[0].split("/", 1)[1]))
    assert set(expected_findings()) <= found
    # Every classified type got there by recorded changes: the latest type change of each
    # device is the type the collector shows.
    latest: dict[str, str | None] = {}
    for device_id, after in db.execute(
        'SELECT "DeviceId", "After" FROM "DeviceClassificationChanges" WHERE "Field" = \'type\' '
        'ORDER BY "ChangedAt", rowid'
    ):
        latest[device_id] = after
    shown = dict(db.execute('SELECT "DeviceId", "DeviceType" FROM "DeviceInfo"'))
    assert {k: v for k, v in shown.items() if v is not None} == {
        k: v for k, v in latest.items() if v is not None
    }
    # One sensor, enrolled with its token, batches ingested.
    (status, batches) = db.execute('SELECT "Status", "BatchesIngested" FROM "Sensors"').fetchone()
    assert status == "active" and batches >= 1
