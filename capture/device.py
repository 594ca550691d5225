"""DeviceRecord: everything known about one device, merged from Observations.

Owned and mutated only by capture.inventory.Inventory (and the classifier it calls); other
stages read it, or its JSON form (`to_json`, the `{"record": "device"}` line of inspect --json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Fields the classifier sets, in output order.
CLASS_FIELDS = ("category", "type", "subtype", "vendor", "model", "firmware", "os")
# Nesting bound of a restored fact value (extractors emit flat tuples or tuples of tuples).
_FACT_DEPTH_MAX = 8


@dataclass(slots=True)
class FieldValue:
    """One classified field: its value, a confidence in [0, 1], and the evidence behind it."""

    value: str | None
    confidence: float
    evidence: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Service:
    """A service the device offers: (transport, port) with an optional banner."""

    proto: str
    port: int
    name: str = ""
    banner: str = ""
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass(slots=True)
class DeviceRecord:
    """One device. Identity is the MAC on the local segment, else (vlan, ip) as key "vlan/ip".

    Collections fed by the network are bounded by the Inventory (config inventory.*).
    """

    key: str
    mac: str | None
    first_seen: float
    last_seen: float
    ips: dict[str, list[float]] = field(default_factory=dict)  # ip -> [first_seen, last_seen]
    vlans: set[int] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)  # name -> source protocol
    protocols: set[str] = field(default_factory=set)
    services: dict[str, Service] = field(default_factory=dict)  # "tcp/23" -> Service
    # Facts kept for classification: (protocol, key) -> distinct values, bounded.
    facts: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    classification: dict[str, FieldValue] = field(default_factory=dict)
    is_gateway: bool = False
    # Classification changes not yet taken upstream (take_changes), oldest first, bounded by
    # the Inventory: {"at", "field", "before", "after", "confidence", "evidence"}.
    changes: list[dict[str, Any]] = field(default_factory=list)

    def take_changes(self) -> list[dict[str, Any]]:
        """The changes recorded since the last call (the exporter sends them once)."""
        out, self.changes = self.changes, []
        return out

    def to_state(self) -> dict[str, Any]:
        """Everything the inventory and the classifier hold about the device, as JSON values
        (the sensor's saved inventory, firmware/inventoryfile.py); `from_state` reverses it."""
        return {
            "key": self.key,
            "mac": self.mac,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "ips": {ip: list(seen) for ip, seen in self.ips.items()},
            "vlans": sorted(self.vlans),
            "names": dict(self.names),
            "protocols": sorted(self.protocols),
            "services": [
                [skey, s.proto, s.port, s.name, s.banner, s.first_seen, s.last_seen]
                for skey, s in self.services.items()
            ],
            "facts": [[proto, key, list(values)] for (proto, key), values in self.facts.items()],
            "classification": {
                name: [fv.value, fv.confidence, list(fv.evidence)]
                for name, fv in self.classification.items()
            },
            "gateway": self.is_gateway,
        }

    @classmethod
    def from_state(cls, state: Any) -> DeviceRecord:
        """The record `to_state` wrote. ValueError names the first malformed part; JSON lists
        in fact values come back as the tuples extractors emit."""
        if not isinstance(state, dict):
            raise ValueError("device: not an object")
        key = _str(state.get("key"), "key")
        mac = state.get("mac")
        if mac is not None:
            mac = _str(mac, "mac")
        device = cls(
            key=key,
            mac=mac,
            first_seen=_time(state.get("first_seen"), "first_seen"),
            last_seen=_time(state.get("last_seen"), "last_seen"),
        )
        for ip, seen in _dict(state.get("ips"), "ips").items():
            if not isinstance(seen, list) or len(seen) != 2:
                raise ValueError("ips: not [first, last]")
            device.ips[_str(ip, "ips")] = [_time(seen[0], "ips"), _time(seen[1], "ips")]
        for vlan in _list(state.get("vlans"), "vlans"):
            if not _is_int(vlan) or not 0 <= vlan <= 4095:
                raise ValueError("vlans: not a VLAN id")
            device.vlans.add(vlan)
        for name, source in _dict(state.get("names"), "names").items():
            device.names[_str(name, "names")] = _str(source, "names")
        device.protocols = {
            _str(p, "protocols") for p in _list(state.get("protocols"), "protocols")
        }
        for entry in _list(state.get("services"), "services"):
            if not isinstance(entry, list) or len(entry) != 7:
                raise ValueError("services: not a 7-item list")
            skey, proto, port, name, banner, first, last = entry
            if not _is_int(port) or not 0 <= port <= 65535:
                raise ValueError("services: bad port")
            device.services[_str(skey, "services")] = Service(
                _str(proto, "services"),
                port,
                _str(name, "services"),
                _str(banner, "services"),
                _time(first, "services"),
                _time(last, "services"),
            )
        for entry in _list(state.get("facts"), "facts"):
            if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[2], list):
                raise ValueError("facts: not [protocol, key, values]")
            values = [_fact_value(v, 0) for v in entry[2]]
            if values:
                device.facts[(_str(entry[0], "facts"), _str(entry[1], "facts"))] = values
        for name, entry in _dict(state.get("classification"), "classification").items():
            if name not in CLASS_FIELDS:
                raise ValueError(f"classification: unknown field {name!r}")
            if not isinstance(entry, list) or len(entry) != 3:
                raise ValueError("classification: not [value, confidence, evidence]")
            value, confidence, evidence = entry
            if value is not None:
                value = _str(value, "classification")
            if not _is_number(confidence) or not 0.0 <= confidence <= 1.0:
                raise ValueError("classification: confidence outside [0, 1]")
            device.classification[name] = FieldValue(
                value,
                float(confidence),
                [_str(e, "classification") for e in _list(evidence, "classification")],
            )
        gateway = state.get("gateway", False)
        if not isinstance(gateway, bool):
            raise ValueError("gateway: not a boolean")
        device.is_gateway = gateway
        return device

    def value(self, name: str) -> str | None:
        fv = self.classification.get(name)
        return fv.value if fv is not None else None

    def to_json(self) -> dict[str, Any]:
        """The `{"record": "device", ...}` object of inspect --json (without "record")."""
        out: dict[str, Any] = {
            "mac": self.mac,
            "ips": sorted(self.ips),
            "names": sorted(self.names),
        }
        for name in CLASS_FIELDS:
            out[name] = self.value(name)
        out.update(
            {
                "protocols": sorted(self.protocols),
                "services": [
                    {"proto": s.proto, "port": s.port, "name": s.name, "banner": s.banner}
                    for _, s in sorted(self.services.items())
                ],
                "vlans": sorted(self.vlans),
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "confidence": {
                    k: round(v.confidence, 3)
                    for k, v in self.classification.items()
                    if v.value is not None
                },
                "evidence": {
                    k: list(v.evidence)
                    for k, v in self.classification.items()
                    if v.value is not None
                },
            }
        )
        return out


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what}: not a string")
    return value


def _dict(value: Any, what: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what}: not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what}: not a list")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _time(value: Any, what: str) -> float:
    if not _is_number(value) or value < 0:
        raise ValueError(f"{what}: not a time")
    return float(value)


def _fact_value(value: Any, depth: int) -> Any:
    """A JSON value back into a FactValue (capture/observation.py): lists become tuples."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and depth < _FACT_DEPTH_MAX:
        return tuple(_fact_value(v, depth + 1) for v in value)
    raise ValueError("facts: not a fact value")
