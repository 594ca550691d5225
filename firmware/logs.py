"""Logging handlers: stderr with `LEVEL name: message`; journald adds the time."""

from __future__ import annotations

import logging
import sys


def setup_logging(verbosity: int = 0) -> None:
    """Install the one stderr handler: verbosity 0 WARNING, 1 INFO, 2 or more DEBUG."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_branchwatch", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler._branchwatch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
