"""Wire items: what a batch carries (device upserts, findings, health, gaps, key rotations).

Part of the contract (uplink.batch re-exports everything here); docs/wire-format.md lists
the keys of each item type. Unknown types or keys are a SchemaError: a new item kind is a
format version bump.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from capture.findings import Finding, FindingKind, Severity, Status, finding_from_parts
from uplink.errors import SchemaError
from uplink.keys import key_id_for

_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


class ItemType(StrEnum):
    DEVICE = "device"
    RECOMMENDATION = "recommendation"
    ALERT = "alert"
    HEALTH = "health"
    GAP = "gap"
    KEY_ROTATION = "key_rotation"


def frozen_mapping(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class DeviceUpsert:
    """A device record's changed fields (`full`: every field, after a gap or every 24 h)."""

    mac: str
    at: float
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    full: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", frozen_mapping(self.fields))


@dataclass(frozen=True, slots=True)
class FindingItem:
    """A recommendation state or an alert: Finding.to_json() plus its dedup_key."""

    finding: Finding


@dataclass(frozen=True, slots=True)
class HealthItem:
    """Sensor health: LED state number/letter and the counters (`status` shows the same)."""

    at: float
    state: str
    counters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "counters", frozen_mapping(self.counters))


@dataclass(frozen=True, slots=True)
class GapItem:
    """Batches the sensor evicted unsent: inclusive seq ranges, and how many items they held."""

    at: float
    ranges: tuple[tuple[int, int], ...]
    batches: int
    items: int
    reason: str = "evicted"


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """The sensor's next key and epoch, announced in a batch signed by the current key.

    The collector accepts batches under the new (key_id, epoch) only after it has ingested
    this item; the new sequence starts at 0 with prev_hash = GENESIS_HASH.
    """

    at: float
    new_public_key: bytes
    new_epoch: int

    @property
    def new_key_id(self) -> str:
        return key_id_for(self.new_public_key)


Item = DeviceUpsert | FindingItem | HealthItem | GapItem | KeyRotation


def item_to_json(item: Item) -> dict[str, Any]:
    """The JSON object of one item on the wire (also what the buffer journals)."""
    if isinstance(item, FindingItem):
        return {
            "type": str(item.finding.kind),
            "dedup_key": item.finding.dedup_key,
            **item.finding.to_json(),
        }
    if isinstance(item, DeviceUpsert):
        return {
            "type": "device",
            "mac": item.mac,
            "at": item.at,
            "full": item.full,
            "fields": plain_json(item.fields),
        }
    if isinstance(item, HealthItem):
        return {
            "type": "health",
            "at": item.at,
            "state": item.state,
            "counters": dict(item.counters),
        }
    if isinstance(item, GapItem):
        return {
            "type": "gap",
            "at": item.at,
            "ranges": [list(r) for r in item.ranges],
            "batches": item.batches,
            "items": item.items,
            "reason": item.reason,
        }
    return {
        "type": "key_rotation",
        "at": item.at,
        "new_key_id": item.new_key_id,
        "new_public_key": item.new_public_key.hex(),
        "new_epoch": item.new_epoch,
    }


def plain_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value


def item_from_json(obj: Any) -> Item:
    """Parse one wire item; raises SchemaError naming the first problem."""
    if type(obj) is dict and type(obj.get("type")) is str and obj["type"] in _FINDING_KINDS:
        finding = _finding_fast(obj, owned=False)
        if finding is not None:
            return FindingItem(finding)
    return _item_from_json(obj)


def decoded_item(obj: Any) -> Item:
    """item_from_json() for an object fresh from json.loads that nothing else holds: its
    evidence dict is wrapped read-only as it is, not copied (decode_items' hot path)."""
    if type(obj) is dict and type(obj.get("type")) is str and obj["type"] in _FINDING_KINDS:
        finding = _finding_fast(obj, owned=True)
        if finding is not None:
            return FindingItem(finding)
    return _item_from_json(obj)


# The fast path accepts a subset of what _finding_from_json accepts (JSON's exact types, the
# exact key set, known enum values) and builds the same Finding; anything else goes the
# generic way, which names the problem. Enum lookups by value, as Enum.__call__ does first.
_FINDING_KEYS = frozenset(
    {
        "type",
        "dedup_key",
        "kind",
        "rule_id",
        "title",
        "severity",
        "devices",
        "first_seen",
        "last_seen",
        "count",
        "attack_technique",
        "status",
        "evidence",
    }
)
_FINDING_KINDS: dict[Any, FindingKind] = {str(k): k for k in FindingKind}
_SEVERITIES: dict[Any, Severity] = {str(s): s for s in Severity}
_STATUSES: dict[Any, Status] = {str(s): s for s in Status}
_NUMBER_TYPES = (float, int)
_ONLY_STR = frozenset({str})


def _finding_fast(obj: dict[str, Any], *, owned: bool) -> Finding | None:
    if obj.keys() != _FINDING_KEYS:
        return None
    kind, severity, status = obj["kind"], obj["severity"], obj["status"]
    rule_id, title, technique = obj["rule_id"], obj["title"], obj["attack_technique"]
    devices, evidence, dedup_key = obj["devices"], obj["evidence"], obj["dedup_key"]
    first_seen, last_seen, count = obj["first_seen"], obj["last_seen"], obj["count"]
    if not (
        type(kind) is str
        and kind == obj["type"]
        and type(severity) is str
        and type(status) is str
        and type(rule_id) is str
        and type(title) is str
        and type(technique) is str
        and type(dedup_key) is str
        and type(count) is int
        and type(first_seen) in _NUMBER_TYPES
        and type(last_seen) in _NUMBER_TYPES
        and type(evidence) is dict
        and type(devices) is list
        and _ONLY_STR.issuperset(map(type, devices))
        and severity in _SEVERITIES
        and status in _STATUSES
    ):
        return None
    return finding_from_parts(
        _FINDING_KINDS[kind],
        rule_id,
        title,
        _SEVERITIES[severity],
        tuple(devices),
        float(first_seen),
        float(last_seen),
        count,
        technique,
        _STATUSES[status],
        MappingProxyType(evidence) if owned else MappingProxyType(dict(evidence)),
        dedup_key,
    )


def _item_from_json(obj: Any) -> Item:
    if not isinstance(obj, dict):
        raise SchemaError("item is not an object")
    kind = obj.get("type")
    try:
        if kind in ("recommendation", "alert"):
            return FindingItem(_finding_from_json(obj))
        if kind == "device":
            check_keys(obj, {"type", "mac", "at", "full", "fields"})
            mac = get_typed(obj, "mac", str)
            if not _MAC_RE.fullmatch(mac):
                raise SchemaError(f"bad mac {mac!r}")
            return DeviceUpsert(
                mac, _num(obj, "at"), get_typed(obj, "fields", dict), get_typed(obj, "full", bool)
            )
        if kind == "health":
            check_keys(obj, {"type", "at", "state", "counters"})
            counters = get_typed(obj, "counters", dict)
            if not all(_is_int(v) for v in counters.values()):
                raise SchemaError("health counters must be integers")
            return HealthItem(_num(obj, "at"), get_typed(obj, "state", str), counters)
        if kind == "gap":
            return _gap_from_json(obj)
        if kind == "key_rotation":
            check_keys(obj, {"type", "at", "new_key_id", "new_public_key", "new_epoch"})
            raw = bytes.fromhex(get_typed(obj, "new_public_key", str))
            if len(raw) != 32 or key_id_for(raw) != obj["new_key_id"]:
                raise SchemaError("key_rotation: bad public key or key id")
            epoch = get_typed(obj, "new_epoch", int)
            if not 0 <= epoch < 1 << 64:
                raise SchemaError("key_rotation: epoch out of range")
            return KeyRotation(_num(obj, "at"), raw, epoch)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"{kind} item: {exc}") from None
    raise SchemaError(f"unknown item type {kind!r}")


def _finding_from_json(obj: dict[str, Any]) -> Finding:
    check_keys(obj, set(_FINDING_KEYS))
    if obj["type"] != obj["kind"]:
        raise SchemaError("finding type and kind differ")
    devices = get_typed(obj, "devices", list)
    if not all(isinstance(d, str) for d in devices):
        raise SchemaError("devices must be strings")
    return Finding(
        kind=FindingKind(obj["kind"]),
        rule_id=get_typed(obj, "rule_id", str),
        title=get_typed(obj, "title", str),
        severity=Severity(obj["severity"]),
        devices=tuple(devices),
        first_seen=_num(obj, "first_seen"),
        last_seen=_num(obj, "last_seen"),
        count=get_typed(obj, "count", int),
        attack_technique=get_typed(obj, "attack_technique", str),
        status=Status(obj["status"]),
        evidence=get_typed(obj, "evidence", dict),
        dedup_key=get_typed(obj, "dedup_key", str),
    )


def _gap_from_json(obj: dict[str, Any]) -> GapItem:
    check_keys(obj, {"type", "at", "ranges", "batches", "items", "reason"})
    ranges: list[tuple[int, int]] = []
    for r in get_typed(obj, "ranges", list):
        if not (isinstance(r, list) and len(r) == 2 and all(_is_int(v) for v in r)):
            raise SchemaError("gap ranges must be [first, last] integer pairs")
        if not 0 <= r[0] <= r[1]:
            raise SchemaError("gap range out of order")
        ranges.append((r[0], r[1]))
    return GapItem(
        _num(obj, "at"),
        tuple(ranges),
        get_typed(obj, "batches", int),
        get_typed(obj, "items", int),
        get_typed(obj, "reason", str),
    )


def check_keys(obj: dict[str, Any], expected: set[str]) -> None:
    if set(obj) != expected:
        raise SchemaError(f"{obj.get('type')} item keys {sorted(set(obj) ^ expected)} differ")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_typed(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj[key]
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise SchemaError(f"{obj.get('type')}.{key} must be {kind.__name__}")
    return value


def _num(obj: dict[str, Any], key: str) -> float:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{obj.get('type')}.{key} must be a number")
    return float(value)


def encode_items(items: Sequence[dict[str, Any]]) -> bytes:
    """The uncompressed payload: a JSON array of item objects, compact, keys sorted, UTF-8."""
    return json.dumps(
        list(items), separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode()
