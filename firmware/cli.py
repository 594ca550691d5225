"""Command line of the sensor: `branchwatch SUBCOMMAND ...`.

Each subcommand lives in its own module exposing `add_parser(subparsers)` and
`run(args) -> int`; this module only dispatches. Exit codes: 0 ok, 2 usage, 65 unreadable or
corrupt input (EX_DATAERR), 77 no capture permission (EX_NOPERM), 78 bad configuration
(EX_CONFIG).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

EX_OK = 0
EX_USAGE = 2
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_NOPERM = 77
EX_CONFIG = 78

# Subcommand modules, in help order.
COMMANDS = (
    "firmware.inspect",
    "firmware.checkconfig",
    "firmware.provision",
    "firmware.explain",
    "firmware.evaluate",
    "firmware.firstboot",
    "firmware.statuscmd",
    "firmware.run",
    "firmware.enrol",
)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("branchwatch")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="branchwatch", description="Passive IoT security sensor for branch offices."
    )
    parser.add_argument("--version", action="version", version=f"branchwatch {version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name in COMMANDS:
        module = importlib.import_module(name)
        for cmd in module.add_parser(sub):  # type: ignore[attr-defined]
            modules[cmd] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    from firmware.logs import setup_logging

    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EX_USAGE
    setup_logging(args.verbose)
    return int(modules[args.command].run(args))  # type: ignore[attr-defined]
