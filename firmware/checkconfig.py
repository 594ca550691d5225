"""`branchwatch check-config FILE`: load a configuration and report every problem (exit 78)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from firmware.config import load_config
from firmware.errors import ConfigError

EX_CONFIG = 78


def add_parser(sub: Any) -> list[str]:
    parser = sub.add_parser(
        "check-config", help="check a configuration file; exit 78 listing every problem"
    )
    parser.add_argument("file", help="TOML file laid over the shipped defaults")
    return ["check-config"]


def run(args: argparse.Namespace) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        for key, value, message in exc.problems:
            print(f"{key}: {message} (got {value!r})", file=sys.stderr)
        return EX_CONFIG
    print(f"{args.file}: ok")
    return 0
