"""Every fingerprint rule is checked against the public strings its file cites as examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.fingerprints import FingerprintError, Rule, load_rules, parse_rule
from capture.vendors import same_vendor

RULES = load_rules()


def _cases() -> list[tuple[Rule, dict[str, object]]]:
    return [(rule, dict(ex)) for rule in RULES for ex in rule.examples]


@pytest.mark.parametrize(
    ("rule", "example"), _cases(), ids=[f"{r.id}#{i}" for i, (r, _) in enumerate(_cases())]
)
def test_rule_matches_its_published_example(rule: Rule, example: dict[str, object]) -> None:
    value = example.pop("value")
    if isinstance(value, list) and rule.param_list is None:
        value = tuple(value)
    got = rule.match(value)
    assert got is not None, f"{rule.id} does not match its example {value!r}"
    for name, want in example.items():
        assert name in got, f"{rule.id}: {name} not set from {value!r}"
        if name == "vendor":
            assert same_vendor(got[name], str(want)), (got[name], want)
        else:
            assert got[name] == want


def test_knowledge_base_covers_at_least_40_vendors() -> None:
    vendors = {r.sets["vendor"] for r in RULES if "vendor" in r.sets}
    assert len({v.split()[0].lower() for v in vendors}) >= 40


def test_every_rule_cites_a_source_and_has_a_bounded_weight() -> None:
    for rule in RULES:
        assert len(rule.source) >= 8 and 0 < rule.weight <= 1, rule.id


# Strings a rule must not claim, with why: other makers' devices whose sysDescr or banner
# contains the rule's words (Recog snmp_sysdescr examples, BSD-2), and other kinds of device.
NOT_THEIRS = [
    ("snmp-descr-hp-jetdirect", "TROY PocketPro 100s compatible with an HP JETDIRECT EX"),
    ("snmp-descr-hp-jetdirect", "Datamax DMXrfNet Print Server compatible with an HP JETDIRECT EX"),
    ("snmp-descr-dell-model-first", "Dell Networking N3048, 6.3.3.10, Linux 3.6.5-4a8b8b9c"),
    ("snmp-descr-dell-model-first", "Dell EMC Networking OS10 Enterprise."),
    ("snmp-descr-dell-laser", "PowerConnect 5324"),
    ("snmp-descr-hp-printer", "HP J9773A 2530-24G-PoEP Switch, revision YA.16.02.0012"),
    ("snmp-descr-eaton-evolution", "Evolution Controller 2.1"),
    ("snmp-descr-epson-print-server", "Epson Network Projector"),
    ("snmp-descr-cisco-telepresence-infra", "Cisco TelePresence Conductor running on Linux"),
]


@pytest.mark.parametrize(("rule_id", "text"), NOT_THEIRS)
def test_rules_do_not_claim_other_devices(rule_id: str, text: str) -> None:
    [rule] = [r for r in RULES if r.id == rule_id]
    assert rule.match(text) is None


def test_held_out_vendors_have_no_rules() -> None:
    # tests/personas/HELDOUT.md: their strings must not be used to write rules.
    heldout = ("lexmark", "kyocera", "snom", "vivotek", "ecobee", "ruckus", "lenovo")
    for rule in RULES:
        text = " ".join([rule.id, rule.regex.pattern if rule.regex else "", rule.exact or ""])
        text += " " + " ".join(rule.sets.values()) + " " + rule.source
        # Nor their tests: an example is a string the rule was checked against.
        text += " " + " ".join(str(v) for example in rule.examples for v in example.values())
        assert not any(h in text.lower() for h in heldout), rule.id


_VALID = {
    "id": "a",
    "protocol": "sip",
    "key": "user_agent",
    "regex": "^X",
    "set": {"type": "voip_phone"},
    "weight": 0.5,
    "source": "a public string",
    "examples": [{"value": "X"}],
}


def test_a_well_formed_rule_loads() -> None:
    assert parse_rule(_VALID).match("X") == {"type": "voip_phone"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": ""}, "needs an id"),
        ({"regex": "("}, "regex"),
        ({"set": {"type": "phone"}}, "unknown type"),
        ({"exact": "y"}, "exactly one"),
        ({"weight": 2}, "weight"),
        ({"source": ""}, "source"),
        ({"set": {"colour": "red"}}, "set may only"),
        ({"examples": []}, "example"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_malformed_rules_are_rejected_with_the_reason(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(FingerprintError, match=problem):
        parse_rule({**_VALID, **change}, "test.toml")


def test_duplicate_rule_ids_are_rejected(tmp_path: Path) -> None:
    rule = """[[rule]]
id = "dup"
protocol = "sip"
key = "user_agent"
regex = "^X"
set = { type = "voip_phone" }
weight = 0.5
source = "a public string"
examples = [{ value = "X" }]
"""
    (tmp_path / "a.toml").write_text(rule + rule)
    with pytest.raises(FingerprintError, match="duplicate"):
        load_rules(tmp_path)


def test_template_fields_are_filled_from_named_groups() -> None:
    rule = next(r for r in RULES if r.id == "dhcp-vc-android")
    assert rule.match("android-dhcp-13") == {"type": "mobile", "os": "Android 13"}
