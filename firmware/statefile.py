"""The daemon's status file: what `branchwatch status` and `diag` read from a running daemon.

The daemon rewrites `<state_dir>/status.json` atomically (temp + rename) every few seconds
with its LED state, the state's words, and its counters. A file older than STALE_AFTER_S means
the daemon is not running (or hung): readers say so instead of showing an old "OK".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FILENAME = "status.json"
STALE_AFTER_S = 30.0


def write_status(state_dir: str | Path, status: dict[str, Any]) -> None:
    """Atomically replace the status file (no fsync: it is rewritten every few seconds and
    a lost update after a power cut is harmless)."""
    path = Path(state_dir) / FILENAME
    tmp = path.with_name(f".{FILENAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, indent=2, sort_keys=True))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_status(
    state_dir: str | Path, now: float | None = None
) -> tuple[dict[str, Any] | None, str]:
    """(status, problem): problem is "" when fresh, else why it cannot be trusted."""
    path = Path(state_dir) / FILENAME
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"no status file at {path}: the daemon is not running"
    except (OSError, ValueError) as exc:
        return None, f"unreadable status file {path}: {exc}"
    if not isinstance(status, dict):
        return None, f"unreadable status file {path}"
    age = (time.time() if now is None else now) - float(status.get("written_at", 0))
    if age > STALE_AFTER_S:
        return status, f"status is {age:.0f} s old: the daemon is not running or is hung"
    return status, ""
