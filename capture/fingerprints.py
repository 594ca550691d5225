r"""The fingerprint knowledge base: rules loaded from capture/data/fingerprints/*.toml.

A rule says which fact it matches, which classification fields it sets, and how much that
is worth. The files are data, not code; this module only loads, validates and matches them.

    [[rule]]
    id = "sip-ua-yealink"                 # stable, unique
    protocol = "sip"                      # Observation.protocol ("oui" = the MAC's registry org)
    key = "user_agent"                    # fact key (docs/observations.md); keys = [...] for several
    regex = '^Yealink SIP-(?P<model>\S+) (?P<firmware>[\d.]+)'   # or exact = "...",
                                          # or param_list = [1, 3, 6, ...] (DHCP option 55)
    set = { type = "voip_phone", vendor = "Yealink" }           # fixed field values
    weight = 0.95                         # (0, 1]: how sure this evidence alone makes us
    source = "Yealink admin guide: User-Agent 'Yealink SIP-T46S 66.85.0.5'"
    examples = [{ value = "Yealink SIP-T46S 66.85.0.5", model = "SIP-T46S", firmware = "66.85.0.5" }]

Named regex groups `model`, `firmware`, `os`, `subtype`, `vendor` set those fields from the
matched text, unless `set` gives the field; a `set` value may use `{group}` placeholders
(`os = "Linux {kernel}"`). Regexes are searched case-insensitively. Tuple facts (mDNS service lists) match
when any element matches. Every rule carries at least one example, and the tests check each
example against its rule (tests/capture/test_fingerprints.py).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capture.errors import CaptureError

FINGERPRINT_DIR = Path(__file__).resolve().parent / "data" / "fingerprints"

TYPES = (
    "printer", "ip_camera", "voip_phone", "smart_tv", "conferencing", "audio", "badge_reader",
    "ups", "bms", "iot_other", "switch", "router", "access_point", "firewall", "workstation",
    "server", "mobile",
)  # fmt: skip
CATEGORY_OF_TYPE = {
    **dict.fromkeys(TYPES[:10], "iot"),
    **dict.fromkeys(("switch", "router", "access_point", "firewall"), "network_device"),
    **dict.fromkeys(("workstation", "server", "mobile"), "computer_mobile"),
}
# Fields a rule may set (category is derived from type).
RULE_FIELDS = ("type", "subtype", "vendor", "model", "firmware", "os")
_GROUPS = ("vendor", "model", "firmware", "os", "subtype")
_RULE_KEYS = {
    "id", "protocol", "key", "keys", "regex", "exact", "param_list", "set", "weight",
    "source", "examples", "note",
}  # fmt: skip


class FingerprintError(CaptureError, ValueError):
    """A fingerprint file is malformed; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One fingerprint rule (see the module docstring for the file format)."""

    id: str
    protocol: str
    keys: tuple[str, ...]
    sets: Mapping[str, str]
    weight: float
    source: str
    regex: re.Pattern[str] | None = None
    exact: str | None = None
    param_list: tuple[int, ...] | None = None
    examples: tuple[Mapping[str, Any], ...] = field(default=())
    origin: str = ""

    def match(self, value: object) -> dict[str, str] | None:
        """The fields this rule sets for a fact value, or None when it does not match."""
        if self.param_list is not None:
            if isinstance(value, tuple | list) and tuple(value) == self.param_list:
                return dict(self.sets)
            return None
        if isinstance(value, tuple | list):
            for item in value:
                out = self.match(item)
                if out is not None:
                    return out
            return None
        if isinstance(value, bool) or value is None:
            return None
        text = str(value)
        if self.exact is not None:
            return dict(self.sets) if text.casefold() == self.exact.casefold() else None
        assert self.regex is not None
        found = self.regex.search(text)
        if found is None:
            return None
        groups = {k: " ".join(v.split()) for k, v in found.groupdict().items() if v and v.strip()}
        out = {}
        for name, template in self.sets.items():
            if "{" not in template:
                out[name] = template
            else:
                try:
                    out[name] = template.format(**groups)
                except (KeyError, IndexError, ValueError):
                    continue  # the template names a group this match did not capture
        for name in _GROUPS:
            if name in groups and name not in self.sets:
                out[name] = groups[name]
        return out


def load_rules(directory: Path = FINGERPRINT_DIR) -> tuple[Rule, ...]:
    """Load and validate every *.toml rule file in `directory`, in file-name order.

    Raises:
        FingerprintError: a file is unreadable, or a rule is malformed or duplicated.
    """
    rules: list[Rule] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FingerprintError(f"{path.name}: {exc}") from exc
        for raw in data.get("rule", []):
            rule = parse_rule(raw, path.name)
            if rule.id in seen:
                raise FingerprintError(f"{path.name}: duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            rules.append(rule)
    return tuple(rules)


def parse_rule(raw: Mapping[str, Any], origin: str = "") -> Rule:
    """Validate one [[rule]] table."""
    rid = raw.get("id")

    def bad(message: str) -> FingerprintError:
        return FingerprintError(f"{origin}: rule {rid!r}: {message}")

    if not isinstance(rid, str) or not rid:
        raise bad("needs an id")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise bad(f"unknown keys {sorted(unknown)}")
    keys = _keys(raw)
    if not isinstance(raw.get("protocol"), str) or not keys:
        raise bad("needs protocol and key")
    matchers = [k for k in ("regex", "exact", "param_list") if k in raw]
    if len(matchers) != 1:
        raise bad("needs exactly one of regex, exact, param_list")
    sets = raw.get("set", {})
    if not isinstance(sets, dict) or any(k not in RULE_FIELDS for k in sets):
        raise bad(f"set may only name {RULE_FIELDS}")
    if "type" in sets and sets["type"] not in TYPES:
        raise bad(f"unknown type {sets['type']!r}")
    weight = raw.get("weight")
    if not isinstance(weight, int | float) or not 0 < weight <= 1:
        raise bad("weight must be in (0, 1]")
    source = raw.get("source")
    if not isinstance(source, str) or len(source) < 8:
        raise bad("needs a source (the public string or RFC the rule comes from)")
    regex = None
    if "regex" in raw:
        try:
            regex = re.compile(raw["regex"], re.IGNORECASE)
        except re.error as exc:
            raise bad(f"regex: {exc}") from exc
        if not sets and not set(regex.groupindex) & set(_GROUPS):
            raise bad("sets no field")
    param_list = raw.get("param_list")
    if param_list is not None and (
        not isinstance(param_list, list) or not all(isinstance(i, int) for i in param_list)
    ):
        raise bad("param_list must be a list of integers")
    examples = raw.get("examples", [])
    if not isinstance(examples, list) or not examples:
        raise bad("needs at least one example")
    return Rule(
        id=rid,
        protocol=raw["protocol"],
        keys=keys,
        sets={k: str(v) for k, v in sets.items()},
        weight=float(weight),
        source=source,
        regex=regex,
        exact=raw.get("exact"),
        param_list=tuple(param_list) if param_list is not None else None,
        examples=tuple(examples),
        origin=origin,
    )


def _keys(raw: Mapping[str, Any]) -> tuple[str, ...]:
    if "keys" in raw:
        keys = raw["keys"]
        return (
            tuple(keys) if isinstance(keys, list) and all(isinstance(k, str) for k in keys) else ()
        )
    key = raw.get("key")
    return (key,) if isinstance(key, str) else ()


def index_rules(rules: Iterable[Rule]) -> dict[tuple[str, str], tuple[Rule, ...]]:
    """{(protocol, key): rules reading that fact}, each list in load order."""
    out: dict[tuple[str, str], list[Rule]] = {}
    for rule in rules:
        for key in rule.keys:
            out.setdefault((rule.protocol, key), []).append(rule)
    return {k: tuple(v) for k, v in out.items()}
