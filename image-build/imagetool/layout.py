"""The MBR partition table of an image: written with sfdisk, read back with `sfdisk --json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imagetool import SECTOR
from imagetool.shell import ImageError, run

FAT32_LBA = "c"
LINUX = "83"


@dataclass(frozen=True)
class Partition:
    """One MBR partition; start and size in 512-byte sectors."""

    number: int
    start: int
    size: int
    type_id: str
    bootable: bool = False

    @property
    def offset(self) -> int:
        """Byte offset of the partition in the image."""
        return self.start * SECTOR

    @property
    def size_bytes(self) -> int:
        return self.size * SECTOR

    @property
    def end(self) -> int:
        """First sector after the partition."""
        return self.start + self.size


@dataclass(frozen=True)
class Table:
    label: str
    disk_id: str
    partitions: tuple[Partition, ...]


def write_table(image: Path, disk_id: str, partitions: list[Partition]) -> None:
    """Write an MBR ("dos") table with these partitions into an existing image file."""
    lines = ["label: dos", f"label-id: {disk_id}", "unit: sectors", ""]
    for part in partitions:
        boot = ", bootable" if part.bootable else ""
        lines.append(f"start={part.start}, size={part.size}, type={part.type_id}{boot}")
    run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(image)],
        input_text="\n".join(lines) + "\n",
    )


def read_table(image: Path) -> Table:
    """Read the partition table of an image file (ImageError when there is none)."""
    out = run(["sfdisk", "--json", str(image)]).stdout
    try:
        table = json.loads(out)["partitiontable"]
        parts = tuple(
            Partition(
                number=index,
                start=int(p["start"]),
                size=int(p["size"]),
                type_id=str(p["type"]).lower(),
                bootable=bool(p.get("bootable", False)),
            )
            for index, p in enumerate(table.get("partitions", []), start=1)
        )
        return Table(label=str(table["label"]), disk_id=str(table.get("id", "")), partitions=parts)
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageError(f"{image}: unreadable partition table: {exc}") from exc


def boot_and_root(image: Path) -> tuple[Partition, Partition]:
    """The FAT boot partition (1) and the ext4 root partition (2) of a Branchwatch image."""
    table = read_table(image)
    if len(table.partitions) < 2:
        raise ImageError(
            f"{image}: expected a boot and a root partition, found {len(table.partitions)}"
        )
    return table.partitions[0], table.partitions[1]
