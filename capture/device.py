"""DeviceRecord: everything known about one device, merged from Observations.

Owned and mutated only by capture.inventory.Inventory (and the classifier it calls); other
stages read it, or its JSON form (`to_json`, the `{"record": "device"}` line of inspect --json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Fields the classifier sets, in output order.
CLASS_FIELDS = ("category", "type", "subtype", "vendor", "model", "firmware", "os")


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
