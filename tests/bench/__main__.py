"""`python -m tests.bench [--part NAME ...]`: run benchmark parts and print their results.

A part is a module tests/bench/<name>.py that defines `run(args) -> dict` (the measured
numbers, JSON-serialisable) and, optionally, `add_arguments(parser)` for its own options
(prefix them with the part name: --capture-packets). Parts are found by scanning this
package, so adding a part is adding a file. Modules without `run` are helpers.

Results go to stdout as one JSON object per part ({"part": name, ...}) and, with --out, to a
JSON file holding all of them plus the machine description (CPU model, cores, Python).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "tests.bench"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def discover_parts() -> dict[str, ModuleType]:
    """Every module of this package that defines run(args)."""
    parts: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules([str(HERE)]):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        if callable(getattr(module, "run", None)):
            parts[info.name] = module
    return parts


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main(argv: list[str] | None = None) -> int:
    parts = discover_parts()
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument(
        "--part",
        action="append",
        choices=sorted(parts),
        help="run only this part (repeatable); default: every part",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=REPO / "build" / "bench",
        help="where generated inputs are cached (not committed)",
    )
    parser.add_argument("--out", type=Path, help="also write all results to this JSON file")
    parser.add_argument(
        "--quick", action="store_true", help="smaller inputs, one repetition (a smoke run)"
    )
    for module in parts.values():
        add = getattr(module, "add_arguments", None)
        if callable(add):
            add(parser)
    args = parser.parse_args(argv)
    args.build_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "parts": {}}
    print(json.dumps({"machine": results["machine"]}), flush=True)
    for name in args.part or sorted(parts):
        print(f"== bench part {name}", file=sys.stderr, flush=True)
        result = parts[name].run(args)
        results["parts"][name] = result
        print(json.dumps({"part": name, **result}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
