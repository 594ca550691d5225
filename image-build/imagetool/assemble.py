"""Build an MBR image from a boot tree (FAT32) and a root tree (ext4) without mounting anything.

The FAT partition is made with `mkfs.vfat` on a file and filled with `mcopy`; the ext4 partition
with `mke2fs -d` (which copies modes, owners and links from the tree); both are copied into the
image with `dd conv=sparse,notrunc` behind an `sfdisk` table. Identifiers that would otherwise be
random (volume id, filesystem UUID, directory hash seed, disk id) are fixed, so the same inputs
give the same layout and content.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from imagetool import MIB, SECTOR
from imagetool.layout import FAT32_LBA, LINUX, Partition, write_table
from imagetool.shell import ImageError, run

FIRST_SECTOR = 4 * MIB // SECTOR  # 4 MiB: erase-block aligned on SD cards, as Raspberry Pi OS
BOOT_LABEL = "bootfs"
ROOT_LABEL = "rootfs"


@dataclass(frozen=True)
class BuildSpec:
    """What to build. Sizes in MiB; root_mib=0 sizes the root from its tree."""

    boot_tree: Path
    root_tree: Path
    image: Path
    boot_mib: int = 512
    root_mib: int = 0
    root_headroom_mib: int = 256
    source_date_epoch: int = 0
    boot_volume_id: str = "b1a2c3d4"
    root_uuid: str = "6b7a2f1e-3c44-4b8e-9d0a-5e2b1c7d8f90"
    hash_seed: str = "0f1e2d3c-4b5a-4697-8877-a6b5c4d3e2f1"
    disk_id: str = "0xb2a9c4e1"


def tree_mib(tree: Path) -> int:
    """Space the tree takes in 4 KiB blocks plus one inode's worth per entry, in MiB (rounded up)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            total += -(-st.st_size // 4096) * 4096 + 256
    return -(-total // MIB)


def root_size_mib(spec: BuildSpec) -> int:
    if spec.root_mib:
        return spec.root_mib
    used = tree_mib(spec.root_tree)
    return used + used // 5 + spec.root_headroom_mib  # ext4 metadata and journal, then room


def make_fat(tree: Path, out: Path, size_mib: int, volume_id: str, epoch: int) -> None:
    """A FAT32 filesystem of size_mib holding the tree (top-level entries copied in name order)."""
    out.unlink(missing_ok=True)
    with out.open("wb") as fh:
        fh.truncate(size_mib * MIB)
    env = {"SOURCE_DATE_EPOCH": str(epoch)}
    run(
        ["mkfs.vfat", "-F", "32", "-n", BOOT_LABEL, "-i", volume_id, "--invariant", str(out)],
        env=env,
    )
    entries = sorted(tree.iterdir())
    if entries:
        run(["mcopy", "-s", "-m", "-p", "-Q", "-i", str(out), *map(str, entries), "::/"], env=env)


def make_ext4(tree: Path, out: Path, size_mib: int, spec: BuildSpec) -> None:
    """An ext4 filesystem of size_mib populated from the tree by `mke2fs -d`."""
    out.unlink(missing_ok=True)
    with out.open("wb") as fh:
        fh.truncate(size_mib * MIB)
    run(
        [
            "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-L", ROOT_LABEL,
            "-U", spec.root_uuid,
            "-E", f"hash_seed={spec.hash_seed},root_owner=0:0",
            "-m", "1", "-d", str(tree), str(out),
        ],
        env={"SOURCE_DATE_EPOCH": str(spec.source_date_epoch), "E2FSPROGS_FAKE_TIME": str(spec.source_date_epoch)},
    )  # fmt: skip


def place(part_file: Path, image: Path, part: Partition) -> None:
    """Copy a partition file into the image at the partition's offset, keeping holes."""
    if part_file.stat().st_size > part.size_bytes:
        raise ImageError(f"{part_file} is larger than partition {part.number}")
    run(
        [
            "dd", f"if={part_file}", f"of={image}", "bs=1M", f"seek={part.offset // MIB}",
            "conv=sparse,notrunc", "status=none",
        ]
    )  # fmt: skip


def assemble(spec: BuildSpec) -> tuple[Partition, Partition]:
    """Build spec.image; returns the boot and root partitions."""
    boot_mib = spec.boot_mib
    root_mib = root_size_mib(spec)
    boot = Partition(1, FIRST_SECTOR, boot_mib * MIB // SECTOR, FAT32_LBA, bootable=True)
    root = Partition(2, boot.end, root_mib * MIB // SECTOR, LINUX)
    spec.image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imagetool-", dir=spec.image.parent) as tmp:
        fat, ext4 = Path(tmp) / "boot.vfat", Path(tmp) / "root.ext4"
        # The two filesystems are independent files: build them at the same time.
        with ThreadPoolExecutor(max_workers=2) as pool:
            fat_done = pool.submit(
                make_fat, spec.boot_tree, fat, boot_mib, spec.boot_volume_id,
                spec.source_date_epoch,
            )  # fmt: skip
            ext4_done = pool.submit(make_ext4, spec.root_tree, ext4, root_mib, spec)
            fat_done.result()
            ext4_done.result()
        partial = spec.image.with_name(spec.image.name + ".partial")
        partial.unlink(missing_ok=True)
        with partial.open("wb") as fh:
            fh.truncate(root.end * SECTOR + MIB)  # 1 MiB tail: room for the backup of nothing
        write_table(partial, spec.disk_id, [boot, root])
        place(fat, partial, boot)
        place(ext4, partial, root)
        os.replace(partial, spec.image)
    return boot, root
