"""Fixtures of the rule tests: an engine built from the real config loader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from capture.rules.engine import RuleEngine
from firmware.config import config_from_dict


def build_engine(**detect: Any) -> RuleEngine:
    """A strict RuleEngine over default.toml with [detect] overrides (checked by the loader)."""
    config = config_from_dict({"detect": detect}) if detect else config_from_dict({})
    return RuleEngine(config.detect, now=lambda: 0.0, strict=True)


@pytest.fixture
def make_engine() -> Callable[..., RuleEngine]:
    return build_engine
