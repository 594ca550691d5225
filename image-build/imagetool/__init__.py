"""Branchwatch SD-card image tooling: assemble, verify, list, personalise and pack an image.

Everything works on image files without mounting them (no loop devices, no vfat module needed):
FAT through mtools (`mcopy -i IMG@@OFFSET`), ext4 through e2fsprogs (`mke2fs -d`, `debugfs`,
`e2fsck` with `IMG?offset=N`), the partition table through `sfdisk`.
"""

from __future__ import annotations

SECTOR = 512
MIB = 1024 * 1024
