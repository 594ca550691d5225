"""Integration fixtures: the real Mosquitto broker (implemented in tests/broker.py)."""

from tests.broker import mosquitto  # noqa: F401
