"""Wire test vectors shared by the uplink and collector tests (see docs/wire-format.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WIRE_V1 = Path(__file__).with_name("wire-v1.json")


def load_wire_vectors() -> dict[str, Any]:
    """tests/vectors/wire-v1.json: keys, batches, acks and commands with expected results.

    Each vector has `hex` (the exact bytes) and `expected`: "ok", or the `reason` token of
    the uplink.errors.WireError the receiver must raise ("ok_unsigned" for an ack that is
    valid only when unsigned acks are allowed).
    """
    data: dict[str, Any] = json.loads(WIRE_V1.read_text(encoding="utf-8"))
    return data
