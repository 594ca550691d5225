"""Errors raised by the collector package."""

from __future__ import annotations


class CollectorError(Exception):
    """Base class of every error raised by collector/."""


class CollectorConfigError(CollectorError, ValueError):
    """The collector configuration is invalid. `problems` lists every (key, value, message)."""

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        lines = [f"{key}: {message} (got {value!r})" for key, value, message in problems]
        super().__init__("invalid collector configuration:\n  " + "\n  ".join(lines))


class StoreError(CollectorError):
    """The database failed or refused an operation (translated from sqlite3 / psycopg)."""


class QueryError(CollectorError, ValueError):
    """A hunting query failed: syntax, a write attempt, or the statement timeout."""


class RegistryError(CollectorError, ValueError):
    """A sensor registry operation is not possible (unknown sensor, bad token, bad CSR)."""


class CveDataError(CollectorError, ValueError):
    """An NVD CVE JSON 2.0 file or CPE string is malformed."""
