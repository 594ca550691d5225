"""Export: pipeline state → wire items, with the privacy policy applied.

Input: DeviceRecords and Findings from capture.pipeline.Pipeline. Output: uplink.batch items
(DeviceUpsert with only the fields that changed since the last export, plus the
classification changes since then as "changes"; FindingItem; HealthItem).

Privacy (config [privacy]): `upload_hostnames` = all | iot_only | none; devices with
randomised (locally administered) MACs, typically phones, are pseudonymised upstream: their
MAC is replaced by a stable keyed hash that is itself a locally administered MAC, and their
names are never uploaded.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from capture.device import DeviceRecord
from capture.findings import Finding
from uplink.batch import DeviceUpsert, FindingItem, HealthItem

_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")

# Fields of DeviceRecord.to_json() that are sent (mac is the item's key).
DEVICE_FIELDS = (
    "ips",
    "names",
    "category",
    "type",
    "subtype",
    "vendor",
    "model",
    "firmware",
    "os",
    "protocols",
    "services",
    "vlans",
    "first_seen",
    "last_seen",
    "confidence",
    "evidence",
)
# Fields whose change alone does not make an upsert worth sending (they ride along).
_QUIET = {"last_seen"}


def is_randomised_mac(mac: str) -> bool:
    """Locally administered bit (0x02 of the first octet) set: randomised or virtual."""
    return bool(int(mac[:2], 16) & 0x02)


def pseudonym(mac: str, key: bytes) -> str:
    """A stable, keyed, locally administered unicast MAC standing for `mac` upstream."""
    digest = hmac.new(key, mac.encode(), hashlib.sha256).digest()
    first = (digest[0] | 0x02) & 0xFE  # locally administered, unicast
    return ":".join(f"{b:02x}" for b in (first, *digest[1:6]))


class Exporter:
    """Remembers what was sent per device so each upsert carries only what changed.

    Args:
        upload_hostnames: "all", "iot_only" or "none".
        pseudonym_key: secret key of the MAC pseudonyms (per sensor, from the state dir).
        devices_max: bound of the per-device memory (least recently exported evicted; an
            evicted device is simply sent in full next time).
    """

    def __init__(self, upload_hostnames: str, pseudonym_key: bytes, devices_max: int) -> None:
        self.upload_hostnames = upload_hostnames
        self._key = pseudonym_key
        self._devices_max = devices_max
        self._sent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def forget(self) -> None:
        """Send every device in full next time (after a gap, a resend command, every 24 h)."""
        self._sent.clear()

    def wire_mac(self, mac: str) -> str:
        return pseudonym(mac, self._key) if is_randomised_mac(mac) else mac

    def device_items(
        self, devices: Iterable[DeviceRecord], *, full: bool = False
    ) -> list[DeviceUpsert]:
        items = []
        for device in devices:
            if device.mac is None:
                continue  # address-only devices go upstream once their MAC is known
            fields = self._fields(device)
            mac = self.wire_mac(device.mac)
            previous = None if full else self._sent.get(mac)
            events = self._changes(device, fields)
            if previous is None:
                changed = fields
            else:
                changed = {k: v for k, v in fields.items() if previous.get(k) != v}
                if not set(changed) - _QUIET and not events:
                    continue
            self._sent[mac] = fields
            self._sent.move_to_end(mac)
            while len(self._sent) > self._devices_max:
                self._sent.popitem(last=False)
            if events:
                changed = {**changed, "changes": events}
            items.append(DeviceUpsert(mac, device.last_seen, changed, full=previous is None))
        return items

    def _fields(self, device: DeviceRecord) -> dict[str, Any]:
        record = device.to_json()
        fields = {key: record.get(key) for key in DEVICE_FIELDS}
        assert device.mac is not None
        if not self._may_upload_names(device, record):
            fields["names"] = []
            fields["evidence"] = _without_names(record.get("evidence") or {}, record["names"])
        return fields

    def _changes(self, device: DeviceRecord, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The device's classification changes since the last export (sent once), with the
        names filtered out of their evidence as out of the record's (privacy)."""
        events = device.take_changes()
        if not events or fields.get("names") or not device.names:
            return events
        return [
            {**e, "evidence": _without_names({"x": e["evidence"]}, device.names)["x"]}
            for e in events
        ]

    def _may_upload_names(self, device: DeviceRecord, record: Mapping[str, Any]) -> bool:
        assert device.mac is not None
        if is_randomised_mac(device.mac) or self.upload_hostnames == "none":
            return False
        if self.upload_hostnames == "iot_only":
            return record.get("category") == "iot"
        return True

    def finding_items(self, findings: Iterable[Finding]) -> list[FindingItem]:
        items = []
        for finding in findings:
            devices = tuple(self._wire_key(d) for d in finding.devices)
            if devices != finding.devices:
                key = finding.dedup_key
                for old, new in zip(finding.devices, devices, strict=True):
                    key = key.replace(old, new)
                finding = replace(finding, devices=devices, dedup_key=key)
            items.append(FindingItem(finding))
        return items

    def _wire_key(self, key: str) -> str:
        return self.wire_mac(key) if _MAC_RE.fullmatch(key) else key

    @staticmethod
    def health_item(at: float, state: str, counters: Mapping[str, int]) -> HealthItem:
        return HealthItem(at, state, dict(counters))


def _without_names(evidence: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Evidence lines quoting a hostname would leak it: drop those lines."""
    secret = [n for n in names if n]
    return {
        field: [line for line in lines if not any(n in line for n in secret)]
        for field, lines in evidence.items()
    }
