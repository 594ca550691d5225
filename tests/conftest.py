"""Shared fixtures: CI strictness, the corpus oracle, thread-leak guard."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


def require(condition: bool, reason: str) -> None:
    """Skip the test with `reason` when `condition` is false; under CI=true, fail instead.

    CI installs and starts everything the tests need, so a missing tool there is a bug.
    """
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real-capture corpus (../shared/corpus), read in place as a test oracle."""
    require(CORPUS.is_dir(), f"corpus not found at {CORPUS} (a user's clone has none)")
    return CORPUS


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Fail any test that leaves a thread of its own running."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.daemon and t is not threading.main_thread()
    ]
    for t in leaked:
        t.join(timeout=5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test left threads running: {still}"


# The real Mosquitto broker fixture (tests/broker.py), for the uplink and collector tests.
from tests.broker import mosquitto  # noqa: E402, F401
