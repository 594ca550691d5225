"""Read the files of an image's partitions without mounting: debugfs for ext4, mtools for FAT."""

from __future__ import annotations

import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imagetool.layout import Partition
from imagetool.shell import ImageError, run, run_bytes


@dataclass(frozen=True)
class Entry:
    """One inode of the ext4 root as debugfs lists it (`ls -p`)."""

    path: str
    mode: int
    uid: int
    gid: int
    size: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def ext4_spec(image: Path, part: Partition) -> str:
    """e2fsprogs' name for a filesystem inside an image file."""
    return f"{image}?offset={part.offset}"


def fat_spec(image: Path, part: Partition) -> str:
    """mtools' name for a FAT filesystem inside an image file."""
    return f"{image}@@{part.offset}"


def _quote(path: str) -> str:
    """debugfs' own quoting (double quotes); paths of an image have no quote characters."""
    return f'"{path}"' if any(c.isspace() for c in path) else path


def _parse_ls_p(parent: str, text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        # /inode/mode/uid/gid/name/size/ ; names cannot hold '/', so the split is exact.
        fields = line.split("/")
        if len(fields) != 8 or fields[0] != "" or fields[5] in (".", ".."):
            continue
        _, _, mode, uid, gid, name, size, _ = fields
        path = f"{parent.rstrip('/')}/{name}"
        entries.append(Entry(path, int(mode, 8), int(uid), int(gid), int(size or 0)))
    return entries


def ext4_listing(image: Path, part: Partition) -> dict[str, Entry]:
    """Every entry of the ext4 filesystem, by absolute path; one debugfs run per tree level."""
    found: dict[str, Entry] = {}
    level = ["/"]
    with tempfile.TemporaryDirectory(prefix="imagetool-ls-") as tmp:
        commands = Path(tmp) / "commands"
        while level:
            commands.write_text("".join(f"ls -p {_quote(d)}\n" for d in level))
            out = run(["debugfs", "-f", str(commands), ext4_spec(image, part)]).stdout
            next_level: list[str] = []
            # debugfs echoes each command as "debugfs: ls -p DIR" before its output.
            for chunk in out.split("debugfs: ls -p ")[1:]:
                header, _, body = chunk.partition("\n")
                parent = header.strip().strip('"') or "/"
                for entry in _parse_ls_p(parent, body):
                    found[entry.path] = entry
                    if entry.is_dir and entry.path != "/lost+found":
                        next_level.append(entry.path)
            level = next_level
    return found


def extract_root(image: Path, part: Partition, dest: Path) -> None:
    """Copy the whole ext4 tree into dest (debugfs rdump keeps modes, owners and links)."""
    dest.mkdir(parents=True, exist_ok=True)
    run(["debugfs", "-R", f"rdump / {dest}", ext4_spec(image, part)])


def extract_boot(image: Path, part: Partition, dest: Path) -> None:
    """Copy the whole FAT tree into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    if fat_paths(image, part):
        run(["mcopy", "-s", "-n", "-m", "-i", fat_spec(image, part), "::/*", f"{dest}/"])


def fat_paths(image: Path, part: Partition) -> list[str]:
    """Every path on the FAT partition ("/config.txt", "/overlays/" for directories)."""
    out = run(["mdir", "-/", "-a", "-b", "-i", fat_spec(image, part), "::/"], check=False)
    if out.returncode != 0:
        if "No files" in out.stdout + out.stderr or "File not found" in out.stderr:
            return []
        raise ImageError(f"mdir: {out.stderr.strip()}")
    return sorted(line[2:] for line in out.stdout.splitlines() if line.startswith("::/"))


def read_fat_file(image: Path, part: Partition, path: str) -> bytes:
    """The bytes of one file on the FAT partition (ImageError if it is missing)."""
    return run_bytes(["mcopy", "-n", "-i", fat_spec(image, part), f"::{path}", "-"])


def read_root_file(image: Path, part: Partition, path: str) -> bytes:
    """The bytes of one file of the ext4 root (ImageError if it is missing)."""
    out = run(["debugfs", "-R", f"stat {_quote(path)}", ext4_spec(image, part)], check=False)
    if "File not found" in out.stderr or out.returncode != 0:
        raise ImageError(f"{path}: not in the root filesystem")
    return run_bytes(["debugfs", "-R", f"cat {_quote(path)}", ext4_spec(image, part)])
