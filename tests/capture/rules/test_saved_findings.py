"""Open findings saved with the inventory and restored after a restart (RuleEngine.export_state).

The persona risk scenario (tests/personas/scenario.py) gives Telnet recommendations and a
port-scan alert. Before, a restart forgot them: the alert stayed "active" at the collector for
good (nothing closed it), a recommendation whose condition went away never turned stale there,
and counts started again from 1.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw

from capture.pipeline import Pipeline
from capture.rules.engine import RuleEngine
from firmware.config import config_from_dict
from tests.personas.scenario import NVR, UPS, risk_packets

T0 = 1_767_300_000.0


def pipeline() -> Pipeline:
    return Pipeline(config_from_dict({}), strict=True)


def run(p: Pipeline, t0: float) -> None:
    for pkt in risk_packets(t0):
        p.process(raw(pkt), float(pkt.time), 1)


def by_key(findings: list[Any]) -> dict[str, Any]:
    return {f.dedup_key: f for f in findings}


def saved(p: Pipeline) -> dict[str, Any]:
    assert p.rules is not None
    state = json.loads(json.dumps(p.rules.export_state()))  # as the file gives it back
    assert isinstance(state, dict)
    return state


@pytest.fixture
def before() -> Pipeline:
    p = pipeline()
    run(p, T0)
    p.drain_findings()  # the daemon exported them
    return p


def test_restored_findings_equal_the_saved_ones_and_are_not_sent_again(before: Pipeline) -> None:
    after = pipeline()
    assert after.rules is not None
    assert after.rules.import_state(saved(before)) == len(before.findings())
    assert {k: f.to_json() for k, f in by_key(after.findings()).items()} == {
        k: f.to_json() for k, f in by_key(before.findings()).items()
    }
    rules = {(f.rule_id, f.devices[0]) for f in after.findings()}
    assert {
        ("telnet-enabled", NVR[0]),
        ("telnet-no-auth", NVR[0]),
        ("telnet-enabled", UPS[0]),
    } <= rules
    assert any(f.rule_id == "port-scan" and f.status == "active" for f in after.findings())
    assert after.drain_findings() == []


def test_an_alert_active_at_the_restart_is_closed_when_quiet(before: Pipeline) -> None:
    after = pipeline()
    assert after.rules is not None
    after.rules.import_state(saved(before))
    [scan] = [f for f in after.findings() if f.rule_id == "port-scan"]
    after.tick(T0 + 3600)
    closed = [f for f in after.drain_findings() if f.rule_id == "port-scan"]
    assert [(f.dedup_key, f.status) for f in closed] == [(scan.dedup_key, "closed")]


def test_a_restored_recommendation_turns_stale_or_counts_on(before: Pipeline) -> None:
    after = pipeline()
    assert after.rules is not None
    after.rules.import_state(saved(before))
    key = f"telnet-enabled|{NVR[0]}"
    count = by_key(after.findings())[key].count
    run(after, T0 + 86_400)  # the same Telnet sessions a day later
    assert by_key(after.findings())[key].count > count
    assert by_key(after.findings())[key].first_seen == by_key(before.findings())[key].first_seen
    stale = pipeline()
    assert stale.rules is not None
    stale.rules.import_state(saved(before))
    stale.tick(T0 + 8 * 86_400)  # detect.stale_after_s is 7 days
    assert by_key(stale.drain_findings())[key].status == "stale"


BREAKAGES = {
    "unknown status": lambda f: f.update(status="open"),
    "closed alert": lambda f: f.update(status="closed"),
    "no devices": lambda f: f.update(devices=[]),
    "count zero": lambda f: f.update(count=0),
    "evidence a list": lambda f: f.update(evidence=[]),
    "no dedup key": lambda f: f.pop("dedup_key"),
    "time a string": lambda f: f.update(last_seen="now"),
    "not an object": lambda f: f.clear() or f.update(kind=1),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_malformed_saved_finding_is_skipped_and_counted(before: Pipeline, breakage: str) -> None:
    state = saved(before)
    findings = state["findings"]
    broken = next(f for f in findings if f["rule_id"] == "port-scan")
    BREAKAGES[breakage](broken)
    after = pipeline()
    assert after.rules is not None
    assert after.rules.import_state(state) == len(findings) - 1
    assert after.rules.counters["dropped[restore_invalid]"] == 1


def test_a_rules_state_that_is_not_an_object_is_refused() -> None:
    p = pipeline()
    assert p.rules is not None
    with pytest.raises(ValueError):
        p.rules.import_state(["findings"])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=24,
)


@functools.cache
def scenario_findings() -> str:
    p = pipeline()
    run(p, T0)
    return json.dumps(saved(p)["findings"])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_each_saved_finding_is_restored_or_counted_never_an_exception(data: st.DataObject) -> None:
    findings = json.loads(scenario_findings())
    for finding in findings:
        if data.draw(st.booleans()):
            part = data.draw(st.sampled_from(sorted(finding)))
            finding[part] = data.draw(JSON)
    engine = RuleEngine(config_from_dict({}).detect, strict=True)
    restored = engine.import_state({"findings": findings})
    invalid = engine.counters.get("dropped[restore_invalid]", 0)
    assert restored + invalid == len(findings)
    engine.tick(T0 + 30 * 86_400)  # restored records age like live ones
    for finding in engine.drain():
        finding.to_json()
