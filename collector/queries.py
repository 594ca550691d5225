"""Hunting queries: run one read-only SQL statement, print a table or JSON.

SQLite: a separate connection opened with URI `mode=ro` and `query_only`. PostgreSQL: a
separate connection as the SELECT-only role `branchwatch_reader`, in a read-only transaction
with `statement_timeout`. Table and column names are quoted identifiers ("DeviceInfo"); the
function now_epoch() gives the current UTC instant on both engines (docs/hunting.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from collector.store import Row, Store, rows_as_dicts

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000


def run_query(
    store: Store,
    sql: str,
    params: Sequence[Any] = (),
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> tuple[list[str], list[Row]]:
    """Columns and at most `max_rows` rows of `sql`; raises QueryError (never writes)."""
    runner = getattr(store, "run_readonly")  # noqa: B009 - both engines implement it
    columns, rows = runner(sql, params, timeout_s=timeout_s, max_rows=max_rows)
    return list(columns), list(rows)


def format_json(columns: Sequence[str], rows: Sequence[Row]) -> str:
    return json.dumps(rows_as_dicts(columns, list(rows)), indent=2, default=str)


def format_table(columns: Sequence[str], rows: Sequence[Row], *, max_width: int = 60) -> str:
    """A plain text table (values cut at `max_width` characters)."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
