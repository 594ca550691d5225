"""Errors raised by the firmware package."""

from __future__ import annotations


class FirmwareError(Exception):
    """Base class of every error raised by firmware/."""


class ConfigError(FirmwareError, ValueError):
    """The configuration is invalid. `problems` lists every (key path, value, message)."""

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        lines = [f"{key}: {message} (got {value!r})" for key, value, message in problems]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


class ShutdownRequested(Exception):
    """SIGTERM/SIGINT arrived; raised in the main loop."""


class ReloadRequested(Exception):
    """SIGHUP arrived; raised in the main loop."""
