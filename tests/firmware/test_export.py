"""Export to wire items: only changed fields, privacy of hostnames, MAC pseudonyms."""

from __future__ import annotations

import pytest

from capture.device import DeviceRecord, FieldValue
from capture.findings import Finding, FindingKind, Severity
from firmware.export import Exporter, is_randomised_mac, pseudonym
from uplink.batch import item_from_json, item_to_json

KEY = b"k" * 32


def device(
    mac: str, name: str = "printer-3f", category: str = "iot", at: float = 10.0
) -> DeviceRecord:
    record = DeviceRecord(key=mac, mac=mac, first_seen=1.0, last_seen=at)
    record.ips["192.0.2.7"] = [1.0, at]
    record.names[name] = "dhcp"
    record.classification["category"] = FieldValue(category, 0.9, [f"dhcp hostname {name!r}"])
    record.classification["type"] = FieldValue("printer", 0.9, ["mdns _ipp._tcp"])
    return record


def test_second_export_carries_only_changed_fields() -> None:
    exporter = Exporter("all", KEY, 100)
    dev = device("00:11:22:33:44:55")
    (first,) = exporter.device_items([dev])
    assert first.full and first.fields["names"] == ["printer-3f"]
    dev.last_seen = 20.0
    assert exporter.device_items([dev]) == []  # last_seen alone is not worth a batch item
    dev.classification["vendor"] = FieldValue("HP", 0.95, ["oui"])
    (second,) = exporter.device_items([dev])
    assert not second.full
    assert set(second.fields) == {"vendor", "last_seen", "confidence", "evidence"}
    exporter.forget()
    (third,) = exporter.device_items([dev])
    assert third.full and "names" in third.fields
    # What goes on the wire parses back under the shared contract.
    assert item_from_json(item_to_json(third)) == third


@pytest.mark.parametrize(
    ("policy", "category", "uploaded"),
    [
        ("all", "iot", True),
        ("iot_only", "iot", True),
        ("iot_only", "computer_mobile", False),
        ("none", "iot", False),
    ],
)
def test_upload_hostnames_policy(policy: str, category: str, uploaded: bool) -> None:
    (item,) = Exporter(policy, KEY, 100).device_items(
        [device("00:11:22:33:44:55", category=category)]
    )
    assert (item.fields["names"] == ["printer-3f"]) is uploaded
    evidence_text = str(item.fields["evidence"])
    assert ("printer-3f" in evidence_text) is uploaded


def test_randomised_mac_is_pseudonymised_and_never_carries_names() -> None:
    phone = "da:a1:19:00:00:01"  # 0xda: locally administered bit set
    assert is_randomised_mac(phone) and not is_randomised_mac("00:11:22:33:44:55")
    exporter = Exporter("all", KEY, 100)
    (item,) = exporter.device_items(
        [device(phone, name="janes-iphone", category="computer_mobile")]
    )
    assert item.mac != phone and item.mac == pseudonym(phone, KEY)
    assert is_randomised_mac(item.mac) and int(item.mac[:2], 16) & 1 == 0  # LA unicast
    assert item.fields["names"] == [] and "janes-iphone" not in str(item.fields)
    assert pseudonym(phone, b"other-key" * 4) != item.mac


def test_findings_use_the_same_pseudonym() -> None:
    phone = "da:a1:19:00:00:01"
    finding = Finding(
        FindingKind.ALERT,
        "port-scan",
        "Port scan",
        Severity.HIGH,
        (phone, "00:11:22:33:44:55"),
        1.0,
        2.0,
    )
    (item,) = Exporter("all", KEY, 100).finding_items([finding])
    assert item.finding.devices[0] == pseudonym(phone, KEY)
    assert phone not in item.finding.dedup_key


def test_classification_changes_go_upstream_once_without_hidden_names() -> None:
    exporter = Exporter("none", KEY, 100)
    dev = device("00:11:22:33:44:55")
    exporter.device_items([dev])
    dev.classification["type"] = FieldValue("ip_camera", 0.97, ["sadp model 'DS-2CD2043G2-I'"])
    dev.changes.append(
        {"at": 20.0, "field": "type", "before": "printer", "after": "ip_camera",
         "confidence": 0.97, "evidence": ["host.name 'printer-3f' -> x (0.9)", "sadp model"]}
    )  # fmt: skip
    (item,) = exporter.device_items([dev])
    assert item.fields["changes"] == [
        {"at": 20.0, "field": "type", "before": "printer", "after": "ip_camera",
         "confidence": 0.97, "evidence": ["sadp model"]}  # the line quoting the name is gone
    ]  # fmt: skip
    assert item_from_json(item_to_json(item)) == item
    assert dev.changes == []
    dev.last_seen = 30.0
    assert exporter.device_items([dev]) == []  # sent once
    # A change alone (the fields already sent) still makes an upsert.
    dev.changes.append(
        {"at": 31.0, "field": "vendor", "before": None, "after": "Hikvision",
         "confidence": 0.9, "evidence": []}
    )  # fmt: skip
    (only_event,) = exporter.device_items([dev])
    assert [c["after"] for c in only_event.fields["changes"]] == ["Hikvision"]
