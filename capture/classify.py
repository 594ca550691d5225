"""Device classification: DeviceRecord facts -> category, type, subtype, vendor, model,
firmware, os, each with a confidence in [0, 1] and its evidence.

Input: the DeviceRecord the Inventory has just merged an Observation into. Output: the
record's `classification` updated in place, and the changes as FieldChange events.

How a field is decided (deterministic, precision first):
- every fingerprint rule (capture/fingerprints.py) matching a fact of the device is a claim
  "field = value" with the rule's weight; the MAC's IEEE registry organization is a vendor
  claim of weight `classify.oui_weight` (never for locally administered MACs, nor for module
  or hypervisor makers, see capture/vendors.py);
- claims for the same value combine as independent evidence: 1 - prod(1 - weight);
- for type and vendor a competing value lowers the winner's confidence to (the MAC registry
  alone is no rival to what the device states about its maker)
  s1 * share**2, share = s1(1-s2) / (s1(1-s2) + s2(1-s1)) (strong rivals make it abstain);
- below `classify.min_confidence` the field abstains (stays null: "unclassified").

No flapping: a classified field changes only when the new value's confidence beats the old
one by `classify.change_margin`, or when it refines it (os "Android" -> "Android 13"), or
when a rival value that strong makes it contested (then it is withdrawn); it is never unset
for lack of evidence (a DHCP renewal without a hostname, an
evicted fact or a quiet week cannot unclassify a device). Every change is a FieldChange.

Scanners are not devices of the kinds they probe: only announcer/server-role evidence of
discovery and management protocols counts (an mDNS query, an SSDP M-SEARCH, an SNMP get or a
SIP OPTIONS probe says nothing about the sender), while device-originated client identity
(DHCP options, HTTP/SIP User-Agent) does. The fact keys themselves carry the role
(docs/observations.md: `services`/`txt.*` only come from mDNS answers, `sys_descr` only from
SNMP responses, `server`/`usn` only from SSDP announcements); observe() also drops
observations whose role is not evidence for their protocol, and DHCP identity facts of a
device that only ever sent OFFER/ACK (a server echoing a client's options) are ignored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from capture import oui
from capture.device import CLASS_FIELDS, DeviceRecord, FieldValue
from capture.fingerprints import CATEGORY_OF_TYPE, RULE_FIELDS, Rule, index_rules, load_rules
from capture.observation import Observation, Role
from capture.vendors import canonical_vendor, is_device_maker, strip_vendor_prefix, vendor_key
from firmware.config import ClassifyConfig

log = logging.getLogger(__name__)

# Roles whose observations are evidence about the sender, per protocol (others: any role).
EVIDENCE_ROLES: Mapping[str, frozenset[Role]] = {
    "mdns": frozenset({Role.ANNOUNCER, Role.SERVER}),
    "ssdp": frozenset({Role.ANNOUNCER, Role.SERVER, Role.CLIENT}),  # client: only user_agent
    "snmp": frozenset({Role.SERVER, Role.ANNOUNCER}),
    "wsd": frozenset({Role.ANNOUNCER, Role.SERVER}),
    "dhcp": frozenset({Role.CLIENT}),
    "dhcpv6": frozenset({Role.CLIENT}),
    "telnet": frozenset({Role.SERVER}),
    "rfb": frozenset({Role.SERVER}),
    "ipp": frozenset({Role.SERVER}),
    "pjl": frozenset({Role.SERVER}),
    "sccp": frozenset({Role.CLIENT}),
    "slp": frozenset({Role.ANNOUNCER, Role.SERVER}),
    "tivo": frozenset({Role.ANNOUNCER}),
    "rtsp": frozenset({Role.SERVER}),
    "sadp": frozenset({Role.SERVER}),
    "ubnt": frozenset({Role.SERVER}),
    "crestron": frozenset({Role.SERVER}),
    "dhip": frozenset({Role.SERVER}),
}
_DHCP_SERVER_MSGS = frozenset({"offer", "ack", "nak"})
_DHCP_IDENTITY = frozenset(
    {"hostname", "vendor_class", "param_list", "user_class", "fqdn", "client_id"}
)
# Facts that name the device: ("host", "name") is derived from them for hostname rules.
_NAME_FACTS = (
    ("dhcp", "hostname"),
    ("dhcp", "fqdn"),
    ("mdns", "hostnames"),
    ("dhcpv6", "fqdn"),
    ("tivo", "machine"),  # the name a TiVo beacon gives its sender
)
_ALNUM = re.compile(r"[^0-9a-z]+")
_CONFLICT_FIELDS = frozenset({"type", "vendor"})
_REFINING_FIELDS = frozenset({"model", "firmware", "os"})


def _is_zero_oui(mac: str | None) -> bool:
    """00-00-00 is Xerox's 1980s block in the IEEE registry; a MAC that starts with it today is
    a zeroed or placeholder address (or a sanitised capture's), and names no maker."""
    return mac is not None and mac.startswith("00:00:00:")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A classified field changed value: the event the Inventory records and uploads."""

    field: str
    before: str | None
    after: str | None
    confidence: float
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    """One piece of evidence: `field` = `value`, worth `weight`, from `rule_id`."""

    field: str
    value: str
    weight: float
    rule_id: str
    evidence: str
    registry: bool = False  # drawn from the MAC's registry organisation alone


class Classifier:
    """Classifies DeviceRecords from their facts with the fingerprint knowledge base."""

    def __init__(self, config: ClassifyConfig, rules: Iterable[Rule] | None = None) -> None:
        self.config = config
        self.rules = tuple(rules) if rules is not None else load_rules()
        self._index = index_rules(self.rules)
        # Fact keys some rule reads, plus those the derived ("host", "name") comes from.
        self._keys = frozenset(self._index) | frozenset(_NAME_FACTS)

    # -- the Inventory's entry points ---------------------------------------------------------

    def observe(self, device: DeviceRecord, obs: Observation) -> list[FieldChange]:
        """Reclassify `device` after the Inventory merged `obs` into it; return the changes."""
        if device.classification:
            if not any((obs.protocol, key) in self._keys for key in obs.facts):
                return []  # nothing a rule reads (DNS qtype, TCP window, ARP op...)
            allowed = EVIDENCE_ROLES.get(obs.protocol)
            if allowed is not None and obs.role not in allowed:
                return []  # a probe or a query says nothing about its sender
        return self.classify(device)

    def classify(self, device: DeviceRecord) -> list[FieldChange]:
        """Recompute every field from device.facts and apply it without flapping."""
        leaders: dict[str, tuple[str, float]] = {}
        decided = self.decide(device, leaders)
        return self.apply(device, decided, leaders)

    # -- deciding -----------------------------------------------------------------------------

    def claims(self, device: DeviceRecord) -> list[Claim]:
        """Every claim the device's facts support, in a deterministic order."""
        out: dict[tuple[str, str, str], Claim] = {}
        for protocol, key, value in self._facts(device):
            for rule in self._index.get((protocol, key), ()):
                fields = rule.match(value)
                if fields is None:
                    continue
                shown = _short(value)
                for name, val in sorted(fields.items()):
                    if name == "vendor":
                        val = canonical_vendor(val)
                    ident = (rule.id, name, _value_key(name, val))
                    if ident not in out:
                        text = f"{protocol}.{key} {shown} -> {rule.id} ({rule.weight:g})"
                        out[ident] = Claim(
                            name, val, rule.weight, rule.id, text, rule.protocol == "oui"
                        )
        org = oui.lookup(device.mac) if not _is_zero_oui(device.mac) else None
        if org is not None and is_device_maker(org):
            vendor = canonical_vendor(org)
            out[("oui", "vendor", _value_key("vendor", vendor))] = Claim(
                "vendor", vendor, self.config.oui_weight, "oui",
                f"MAC {device.mac} registered to {org!r} (IEEE) ({self.config.oui_weight:g})",
                registry=True,
            )  # fmt: skip
        return [out[k] for k in sorted(out)]

    def decide(
        self, device: DeviceRecord, leaders: dict[str, tuple[str, float]] | None = None
    ) -> dict[str, FieldValue]:
        """Every field's best value with its confidence and evidence (None value: abstain)."""
        by_field: dict[str, list[Claim]] = {f: [] for f in RULE_FIELDS}
        for claim in self.claims(device):
            by_field[claim.field].append(claim)
        out: dict[str, FieldValue] = {}
        for name in RULE_FIELDS:  # vendor before model: models compare without the maker
            out[name] = self._combine(name, by_field[name], out.get("vendor"), leaders)
        out["category"] = self._category(by_field["type"], out["type"])
        return out

    def _combine(
        self,
        name: str,
        claims: list[Claim],
        vendor: FieldValue | None = None,
        leaders: dict[str, tuple[str, float]] | None = None,
    ) -> FieldValue:
        maker = vendor.value if vendor is not None else None
        groups: dict[str, list[Claim]] = {}
        for claim in claims:
            value = strip_vendor_prefix(claim.value, maker) if name == "model" else claim.value
            groups.setdefault(_value_key(name, value), []).append(claim)
        if not groups:
            return FieldValue(None, 0.0, [])
        if name in _REFINING_FIELDS:
            # "Android" supports "Android 13": a general value backs the specific ones it
            # prefixes, so the most specific consistent answer wins.
            for key in list(groups):
                general = [
                    c for k, g in groups.items() if k != key and key.startswith(k) for c in g
                ]
                groups[key] = groups[key] + general
        scored = sorted(
            ((_score(g), k) for k, g in groups.items()), key=lambda s: (-s[0], -len(s[1]), s[1])
        )
        best_score, best_key = scored[0]
        confidence = best_score
        rivals = [
            sk for sk in scored[1:] if not _is_weaker_registry_claim(name, groups, best_key, sk[1])
        ]
        if name in _CONFLICT_FIELDS and rivals:
            confidence = best_score * _share(best_score, rivals[0][0]) ** 2
        best = groups[best_key]
        own = [c for c in best if _value_key(name, c.value) == best_key] or best
        shown = max(own, key=lambda c: (c.weight, len(c.value), c.value)).value
        evidence = [c.evidence for c in sorted(best, key=lambda c: (-c.weight, c.rule_id))]
        evidence += [
            f"against: {c.evidence}" for k in sorted(groups) if k != best_key for c in groups[k]
        ]
        if leaders is not None:
            leaders[name] = (shown, best_score)
        answer: str | None = shown if confidence >= self.config.min_confidence else None
        return FieldValue(answer, round(max(confidence, 0.0), 3), evidence)

    def _category(self, type_claims: list[Claim], type_value: FieldValue) -> FieldValue:
        if type_value.value is not None:
            category = CATEGORY_OF_TYPE[type_value.value]
            return FieldValue(category, type_value.confidence, [f"type {type_value.value}"])
        as_category = [
            Claim(
                "category", CATEGORY_OF_TYPE[c.value], c.weight, c.rule_id, c.evidence, c.registry
            )
            for c in type_claims
        ]
        return self._combine("category", as_category)

    def _facts(self, device: DeviceRecord) -> Iterator[tuple[str, str, Any]]:
        facts = device.facts
        msgs = {str(m).lower() for m in facts.get(("dhcp", "msg_type"), ())}
        dhcp_server_only = bool(msgs) and msgs <= _DHCP_SERVER_MSGS
        for protocol, key in sorted(facts):
            if dhcp_server_only and protocol == "dhcp" and key in _DHCP_IDENTITY:
                continue
            for value in facts[(protocol, key)]:
                yield protocol, key, value
        if org := oui.lookup(device.mac):
            yield "oui", "organization", org
        for name in sorted(_names(device, dhcp_server_only)):
            yield "host", "name", name

    # -- applying without flapping ------------------------------------------------------------

    def apply(
        self,
        device: DeviceRecord,
        decided: Mapping[str, FieldValue],
        leaders: Mapping[str, tuple[str, float]] | None = None,
    ) -> list[FieldChange]:
        """Write `decided` into device.classification; a set field changes only on stronger
        evidence: a stronger different value replaces it, a stronger rival that leaves the
        decision contested withdraws it; lack of evidence never unsets it. Returns the
        value changes."""
        changes: list[FieldChange] = []
        current = device.classification
        for name in CLASS_FIELDS:
            new = decided.get(name, FieldValue(None, 0.0, []))
            old = current.get(name)
            if old is None or old.value is None:
                current[name] = new
                if new.value is not None:
                    changes.append(_change(name, None, new))
            elif new.value is not None and _value_key(name, new.value) == _value_key(
                name, old.value
            ):
                old.confidence, old.evidence = max(new.confidence, 0.0), new.evidence
            elif new.value is not None and (
                new.confidence >= old.confidence + self.config.change_margin
                or _refines(name, old.value, new.value)
            ):
                current[name] = new
                changes.append(_change(name, old.value, new))
            elif self._is_overruled(name, old, (leaders or {}).get(name)):
                # A stronger rival now contests the value: withdraw it rather than keep a
                # probably wrong answer (never happens for mere lack of evidence).
                current[name] = FieldValue(None, new.confidence, new.evidence)
                changes.append(_change(name, old.value, current[name]))
        type_value = current["type"].value
        category = CATEGORY_OF_TYPE[type_value] if type_value is not None else None
        if category is None and current["category"].value is not None:
            if not any(c.field == "type" for c in changes):
                return changes
            category = decided["category"].value if "category" in decided else None
        if current["category"].value != category:
            before = current["category"].value
            current["category"] = FieldValue(
                category, current["type"].confidence, [f"type {type_value}"] if type_value else []
            )
            changes.append(_change("category", before, current["category"]))
        return changes

    def _is_overruled(self, name: str, old: FieldValue, leader: tuple[str, float] | None) -> bool:
        if leader is None or old.value is None:
            return False
        value, score = leader
        return (
            _value_key(name, value) != _value_key(name, old.value)
            and score >= old.confidence + self.config.change_margin
        )


def _is_weaker_registry_claim(
    name: str, groups: dict[str, list[Claim]], best: str, rival: str
) -> bool:
    """The MAC registry alone does not contradict what the device says about itself: NICs
    and Wi-Fi modules come from other makers (a vendor class 'Arista' beats the registry's
    owner of the test MAC's prefix), and a maker's registry type hint ("Hikvision: cameras")
    does not outweigh the product line the device names (a Hikvision access terminal)."""
    if name not in ("vendor", "type"):
        return False
    stated = any(not c.registry for c in groups[best])
    return stated and all(c.registry for c in groups[rival])


def _refines(name: str, old: str, new: str) -> bool:
    """A more specific value of the same thing ("Android" -> "Android 13"): not a flip."""
    if name not in _REFINING_FIELDS:
        return False
    old_key, new_key = _value_key(name, old), _value_key(name, new)
    return new_key != old_key and new_key.startswith(old_key)


def _change(name: str, before: str | None, new: FieldValue) -> FieldChange:
    return FieldChange(name, before, new.value, new.confidence, tuple(new.evidence))


def _share(best: float, rival: float) -> float:
    """How much of the belief goes to the best value against its strongest rival
    (odds ratio of the two combined scores, in [0.5, 1])."""
    for_best, for_rival = best * (1.0 - rival), rival * (1.0 - best)
    total = for_best + for_rival
    return for_best / total if total > 0 else 0.5


def _score(claims: list[Claim]) -> float:
    by_rule: dict[str, float] = {}
    for c in claims:
        by_rule[c.rule_id] = max(by_rule.get(c.rule_id, 0.0), c.weight)
    miss = 1.0
    for weight in by_rule.values():
        miss *= 1.0 - weight
    return 1.0 - miss


def _value_key(name: str, value: str) -> str:
    if name == "vendor":
        return vendor_key(value)
    return _ALNUM.sub("", value.casefold()) or value.casefold()


def _names(device: DeviceRecord, dhcp_server_only: bool) -> set[str]:
    names: set[str] = set(device.names)
    for protocol, key in _NAME_FACTS:
        if dhcp_server_only and protocol == "dhcp":
            continue
        for value in device.facts.get((protocol, key), ()):
            for item in value if isinstance(value, tuple | list) else (value,):
                if isinstance(item, str) and item:
                    names.add(item)
    out = set()
    for name in names:
        host = name.strip().rstrip(".")
        if host.lower().endswith(".local"):
            host = host[: -len(".local")]
        if host:
            out.add(host)
    return out


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
