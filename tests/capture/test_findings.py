"""Finding construction: finding_from_parts() is Finding(...) without the dataclass __init__."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from capture.findings import Finding, FindingKind, Severity, Status, finding_from_parts

ARGS = (
    FindingKind.ALERT,
    "port-scan",
    "Port scan",
    Severity.HIGH,
    ("00:1b:a9:00:00:01", "00:1b:a9:00:00:02"),
    1.0,
    2.0,
    3,
    "T1046",
    Status.UNHEALTHY,
)


def test_parts_give_the_same_finding_as_the_constructor() -> None:
    evidence = MappingProxyType({"ports": [22, 23]})
    fast = finding_from_parts(*ARGS, evidence, "port-scan|x")
    slow = Finding(*ARGS, evidence, "port-scan|x")
    assert fast == slow
    assert [getattr(fast, f.name) for f in dataclasses.fields(Finding)] == [
        *ARGS,
        evidence,
        "port-scan|x",
    ]


def test_parts_finding_is_still_frozen() -> None:
    fast = finding_from_parts(*ARGS, MappingProxyType({}), "k")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.count = 4  # type: ignore[misc]


def test_parts_that_need_post_init_go_through_the_constructor() -> None:
    # An empty dedup_key is derived, and a plain dict is copied read-only, as Finding() does.
    source = {"ports": [22]}
    f = finding_from_parts(*ARGS, MappingProxyType({}), "")
    assert f.dedup_key == "port-scan|00:1b:a9:00:00:01|00:1b:a9:00:00:02"
    g = finding_from_parts(*ARGS, source, "k")  # type: ignore[arg-type]
    source["ports"] = [80]
    assert isinstance(g.evidence, MappingProxyType) and g.evidence["ports"] == [22]
