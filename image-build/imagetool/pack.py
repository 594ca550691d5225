"""Ship an image: compressed copy, block map of its data ranges, sha256 checksums.

The block map lists the byte ranges that hold data (found with SEEK_DATA/SEEK_HOLE on the sparse
image file, so unwritten filesystem space is never read) with a sha256 per range; a flasher
writes only those ranges, and can check each one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from imagetool.manifest import sha256_file
from imagetool.shell import ImageError, run

BLOCK = 4096


def data_ranges(image: Path) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the file that hold data, aligned to BLOCK."""
    size = image.stat().st_size
    ranges: list[tuple[int, int]] = []
    fd = os.open(image, os.O_RDONLY)
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole from here on
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            start, end = start // BLOCK * BLOCK, min(size, -(-end // BLOCK) * BLOCK)
            if ranges and start <= ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((start, end))
            pos = end
    finally:
        os.close(fd)
    return ranges


def block_map(image: Path) -> dict[str, Any]:
    """The block map of an image as a JSON-ready dict."""
    mapped: list[dict[str, Any]] = []
    with image.open("rb") as fh:
        for start, end in data_ranges(image):
            digest = hashlib.sha256()
            fh.seek(start)
            left = end - start
            while left:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    raise ImageError(f"{image}: short read at {fh.tell()}")
                digest.update(chunk)
                left -= len(chunk)
            mapped.append({"start": start, "end": end, "sha256": digest.hexdigest()})
    size = image.stat().st_size
    return {
        "format": "branchwatch-blockmap/1",
        "image": image.name,
        "image_size": size,
        "block_size": BLOCK,
        "mapped_bytes": sum(int(r["end"]) - int(r["start"]) for r in mapped),
        "image_sha256": sha256_file(image),
        "ranges": mapped,
    }


def compress(image: Path, method: str = "zstd", level: int = 3) -> Path | None:
    """Compress the image next to itself (image.zst or image.xz); returns the compressed path.

    method "none" writes nothing and removes stale compressed copies of an earlier build.
    """
    if method == "none":
        for suffix in (".zst", ".xz"):
            image.with_name(image.name + suffix).unlink(missing_ok=True)
        return None
    if method == "zstd":
        out = image.with_name(image.name + ".zst")
        run(
            ["zstd", "-q", "-f", "-T0", f"-{level}", str(image), "-o", str(out)],
            timeout_s=3600,
        )
    elif method == "xz":
        out = image.with_name(image.name + ".xz")
        run(["xz", "-k", "-f", "-T0", f"-{min(level, 9)}", str(image)], timeout_s=3600)
    else:
        raise ImageError(f"unknown compression {method!r} (zstd or xz)")
    return out


def write_checksums(files: list[Path], out: Path, known: dict[Path, str] | None = None) -> None:
    """A SHA256SUMS file (sha256sum -c format) for files in out's directory.

    `known` holds digests already computed (the image's, from its block map), so a 1.5 GB image
    is not hashed twice.
    """
    known = known or {}
    lines = [
        f"{known.get(f) or sha256_file(f)}  {f.name}\n" for f in sorted(files, key=lambda f: f.name)
    ]
    out.write_text("".join(lines))


def pack(image: Path, method: str = "zstd", level: int = 3) -> list[Path]:
    """Block map, compressed image (unless method is "none") and SHA256SUMS; the files written."""
    bmap = image.with_name(image.name + ".bmap.json")
    blocks = block_map(image)
    bmap.write_text(json.dumps(blocks, indent=1) + "\n")
    packed = compress(image, method, level)
    sums = image.with_name("SHA256SUMS")
    shipped = [image, bmap] + ([packed] if packed else [])
    write_checksums(shipped, sums, {image: str(blocks["image_sha256"])})
    return ([packed] if packed else []) + [bmap, sums]
