"""The saved inventory: what the sensor knows of each device, kept across restarts.

Without it a restart (a power cut, an upgrade, a SIGHUP reload) started from an empty
inventory: every device seen afterwards raised "New device after the learning period", and
its first upsert carried only what the first packets said, so the collector lost model and
firmware (and logged a firmware change) until the device announced itself again, which a
printer or a camera may not do for days.

File: `<state_dir>/inventory.json.gz`, mode 0600 (it holds host names), written atomically
(temp file, fsync, rename, directory fsync) by firmware/provision.py's write_private. Content:
gzip of one JSON object

    {"format": "branchwatch-inventory", "version": 1, "saved_at": <epoch s>,
     "inventory": <capture.inventory.Inventory.export_state()>,
     "rules": <capture.rules.engine.RuleEngine.export_state()> (the open findings)}

The open findings come along so that a restart does not leave them open upstream forever:
an alert active at the restart is still closed when it goes quiet, a recommendation still
turns stale when its condition stays unseen, and counts go on from where they were.

gzip's CRC-32 catches a damaged file; the rename means a power cut leaves the previous file
whole. An unreadable file is renamed `inventory.json.gz.bad` (kept for a look, replaced by the
next bad one) and the sensor starts empty, logged at ERROR.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.provision import write_private

log = logging.getLogger(__name__)

FILENAME = "inventory.json.gz"
FORMAT = "branchwatch-inventory"
VERSION = 1
# Bound of the decompressed file: 2,000 devices at their configured maxima stay far below it;
# a larger file is refused rather than read into memory.
DECOMPRESSED_MAX_BYTES = 256 * 1024 * 1024


class InventoryFileError(Exception):
    """The saved inventory cannot be read; the message says why."""


@dataclass(slots=True)
class Loaded:
    saved_at: float
    state: dict[str, Any]  # the inventory
    rules: dict[str, Any] | None = None  # the rule engine's open findings


def path_in(state_dir: str | Path) -> Path:
    return Path(state_dir) / FILENAME


def encode(state: dict[str, Any], saved_at: float, rules: dict[str, Any] | None = None) -> bytes:
    """The file's bytes (gzip mtime 0: the same state and time, the same bytes)."""
    return _encode(_state_text(state, rules), saved_at)


def _state_text(state: dict[str, Any], rules: dict[str, Any] | None) -> str:
    return json.dumps({"inventory": state, "rules": rules}, separators=(",", ":"), sort_keys=True)


def _encode(state_text: str, saved_at: float) -> bytes:
    head = json.dumps({"format": FORMAT, "version": VERSION, "saved_at": saved_at})
    text = f"{head[:-1]}, {state_text[1:]}"
    return gzip.compress(text.encode("ascii"), compresslevel=6, mtime=0)


def load(path: Path) -> Loaded | None:
    """The saved inventory, or None when there is no file; InventoryFileError if unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InventoryFileError(f"{path}: {exc.strerror or exc}") from exc
    try:
        text = _gunzip(raw)
        doc = json.loads(text.decode("ascii"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise InventoryFileError(f"{path}: damaged ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InventoryFileError(f"{path}: not a saved inventory")
    if doc.get("version") != VERSION:
        raise InventoryFileError(f"{path}: version {doc.get('version')!r}, expected {VERSION}")
    saved_at = doc.get("saved_at")
    state = doc.get("inventory")
    rules = doc.get("rules")
    if not isinstance(saved_at, int | float) or isinstance(saved_at, bool):
        raise InventoryFileError(f"{path}: no saved_at time")
    if not isinstance(state, dict):
        raise InventoryFileError(f"{path}: no inventory object")
    if rules is not None and not isinstance(rules, dict):
        raise InventoryFileError(f"{path}: rules is not an object")
    return Loaded(float(saved_at), state, rules)


def quarantine(path: Path) -> None:
    """Move an unreadable file aside (best effort: the next save replaces it anyway)."""
    try:
        os.replace(path, path.with_name(path.name + ".bad"))
    except OSError as exc:
        log.warning("cannot move the unreadable inventory aside: %s", exc)


def _gunzip(raw: bytes) -> bytes:
    """Decompress with a bound, so a crafted file cannot exhaust memory."""
    d = zlib.decompressobj(wbits=31)  # gzip header and CRC-32 trailer
    out = d.decompress(raw, DECOMPRESSED_MAX_BYTES + 1)
    if len(out) > DECOMPRESSED_MAX_BYTES or d.unconsumed_tail:
        raise ValueError(f"more than {DECOMPRESSED_MAX_BYTES} bytes decompressed")
    if not d.eof:
        raise EOFError("truncated gzip stream")
    if d.unused_data:
        raise ValueError("trailing bytes after the gzip stream")
    return out


class InventorySaver:
    """Saves the inventory when what it would write differs from the last file.

    Args:
        path: the file (path_in(state_dir)).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved_at: float | None = None
        self.saves = 0
        self.failures = 0
        self._failing = False
        self._digest: bytes | None = None

    def save(self, state: dict[str, Any], now: float, rules: dict[str, Any] | None = None) -> bool:
        """Write the inventory `state` and the `rules` state unless they equal the last saved
        ones; True when written. An OSError (full or read-only card) is logged and counted;
        the sensor goes on."""
        text = _state_text(state, rules)
        digest = hashlib.sha256(text.encode("ascii")).digest()
        if digest == self._digest:
            return False
        try:
            write_private(self.path, _encode(text, now))
        except OSError as exc:
            if not self._failing:  # log the transition, not every attempt (STYLE.md)
                log.error("cannot save the inventory to %s: %s", self.path, exc)
            self._failing = True
            self.failures += 1
            return False
        if self._failing:
            log.info("inventory saved to %s again", self.path)
        self._failing = False
        self._digest = digest
        self.saved_at = now
        self.saves += 1
        return True

    def loaded(self, state: dict[str, Any], rules: dict[str, Any] | None = None) -> None:
        """The file already holds these (just restored): no need to write them again."""
        self._digest = hashlib.sha256(_state_text(state, rules).encode("ascii")).digest()
