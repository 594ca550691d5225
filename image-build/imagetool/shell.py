"""Running the external filesystem tools; their failures become ImageError."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence


class ImageError(Exception):
    """An image tool failed, or the image is not what it should be."""


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout_s: float = 600.0,
) -> subprocess.CompletedProcess[str]:
    """Run a tool with a C locale; raise ImageError with its stderr when it fails."""
    full_env = {**os.environ, "LC_ALL": "C", "MTOOLS_SKIP_CHECK": "1", **(env or {})}
    try:
        done = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            env=full_env,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"{argv[0]}: {exc}") from exc
    if check and done.returncode != 0:
        raise ImageError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def run_bytes(argv: Sequence[str], *, timeout_s: float = 600.0) -> bytes:
    """Run a tool and return its raw standard output (file contents)."""
    env = {**os.environ, "LC_ALL": "C", "MTOOLS_SKIP_CHECK": "1"}
    try:
        done = subprocess.run(
            list(argv), capture_output=True, env=env, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise ImageError(f"{' '.join(argv)}: exit {done.returncode}: {stderr}")
    return done.stdout
