"""The content manifest of an image: one line per file of both partitions, in a fixed order.

    partition  path  type  mode  uid:gid  size  sha256

`type` is f (file), d (directory), l (symlink; sha256 of the link text), or c/b/p/s (no
content hash). Mode and owner of the ext4 root come from debugfs, not from an extracted copy;
FAT has neither, shown as "-". Timestamps are left out on purpose: two builds of the same inputs
give the same manifest.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from imagetool.contents import ext4_listing, extract_boot, extract_root
from imagetool.layout import boot_and_root

_KINDS = {
    stat.S_IFREG: "f",
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "l",
    stat.S_IFCHR: "c",
    stat.S_IFBLK: "b",
    stat.S_IFIFO: "p",
    stat.S_IFSOCK: "s",
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_hash(kind: str, local: Path) -> str:
    if kind == "f":
        return sha256_file(local)
    if kind == "l":
        return hashlib.sha256(os.fsencode(os.readlink(local))).hexdigest()
    return "-"


def root_lines(image: Path, extracted: Path) -> list[str]:
    """Manifest lines of the ext4 root; `extracted` is a debugfs rdump of it."""
    _, root = boot_and_root(image)
    lines = []
    for path, entry in ext4_listing(image, root).items():
        kind = _KINDS.get(stat.S_IFMT(entry.mode), "?")
        digest = _content_hash(kind, extracted / path.lstrip("/"))
        size = entry.size if kind in ("f", "l") else 0
        mode = f"{stat.S_IMODE(entry.mode):04o}"
        lines.append(f"root\t{path}\t{kind}\t{mode}\t{entry.uid}:{entry.gid}\t{size}\t{digest}")
    return lines


def boot_lines(extracted: Path) -> list[str]:
    """Manifest lines of the FAT partition; `extracted` is an mcopy of it."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(extracted):
        for name in dirnames + filenames:
            local = Path(dirpath) / name
            path = "/" + local.relative_to(extracted).as_posix()
            if local.is_dir():
                lines.append(f"boot\t{path}\td\t-\t-\t0\t-")
            else:
                size = local.stat().st_size
                lines.append(f"boot\t{path}\tf\t-\t-\t{size}\t{sha256_file(local)}")
    return lines


def manifest(image: Path) -> str:
    """The manifest text of an image (sorted by partition, then path bytes)."""
    boot, root = boot_and_root(image)
    with tempfile.TemporaryDirectory(prefix="imagetool-manifest-") as tmp:
        boot_dir, root_dir = Path(tmp) / "boot", Path(tmp) / "root"
        extract_boot(image, boot, boot_dir)
        extract_root(image, root, root_dir)
        lines = boot_lines(boot_dir) + root_lines(image, root_dir)
    lines.sort(key=lambda line: [os.fsencode(f) for f in line.split("\t", 2)[:2]])
    header = "# partition\tpath\ttype\tmode\towner\tsize\tsha256"
    return "\n".join([header, *lines]) + "\n"
