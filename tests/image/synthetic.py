"""Small boot and root trees shaped like the real image's, for building images of a few MiB."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from imagetool.assemble import BuildSpec, assemble
from imagetool.verify import Policy

UNITS = Path(__file__).resolve().parents[2] / "firmware" / "units"
KERNEL = "vmlinuz-6.12.48+deb13-arm64"
INITRD = "initrd.img-6.12.48+deb13-arm64"
# As raspi-firmware writes them (with /etc/default/raspi-firmware: ROOTPART=LABEL=rootfs, CMA=0).
CONFIG_TXT = f"arm_64bit=1\nenable_uart=1\nupstream_kernel=1\nkernel={KERNEL}\ninitramfs {INITRD}\n"
CMDLINE_TXT = "console=serial0,115200 console=tty1 root=LABEL=rootfs rw fsck.repair=yes rootwait\n"
SHADOW = "root:*:20000:0:99999:7:::\nbranchwatch:!:20000::::::\n"
FSTAB = "LABEL=rootfs / ext4 noatime,errors=remount-ro 0 1\nLABEL=bootfs /boot/firmware vfat noatime 0 2\n"


def write(
    path: Path, data: str | bytes, mode: int = 0o644, owner: tuple[int, int] = (0, 0)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    os.chown(path, *owner)
    os.chmod(path, mode)
    return path


def make_boot_tree(boot: Path) -> Path:
    write(boot / "config.txt", CONFIG_TXT)
    write(boot / "cmdline.txt", CMDLINE_TXT)
    write(boot / KERNEL, b"\x4d\x5a" + bytes(range(256)) * 40)
    write(boot / INITRD, b"\x1f\x8b" + bytes(4000))
    for name in ("start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "bcm2712-rpi-5-b.dtb"):
        write(boot / name, name.encode() * 100)
    write(boot / "overlays" / "disable-bt.dtbo", b"\xd0\x0d\xfe\xed" + bytes(60))
    return boot


def make_root_tree(root: Path) -> Path:
    for folder in ("boot/firmware", "var/lib", "proc", "dev", "tmp", "root"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    write(root / "etc/shadow", SHADOW, 0o640, (0, 42))
    write(root / "etc/machine-id", "")
    write(root / "etc/fstab", FSTAB)
    write(root / "etc/ssh/sshd_config", "PasswordAuthentication no\n")
    write(root / "usr/bin/tool", b"\x7fELF" + bytes(1000), 0o4755)
    write(root / "home/branchwatch/notes.txt", "x\n", 0o600, (999, 999))
    (root / "usr/bin/tool-link").symlink_to("tool")
    system = root / "etc/systemd/system"
    wants = system / "multi-user.target.wants"
    wants.mkdir(parents=True)
    for unit in ("branchwatch.service", "branchwatch-firstboot.service"):
        shutil.copy(UNITS / unit, system / unit)
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    return root


# Tests build a 34 MiB FAT32 (the fewest clusters mtools accepts as FAT32) and a 6 MiB root; the
# files are sparse, so an image costs a few MiB of disk.
SMALL = Policy(min_boot_mib=32)
TOOLS = (
    "mkfs.vfat",
    "mcopy",
    "mdir",
    "mlabel",
    "mtype",
    "mke2fs",
    "debugfs",
    "e2fsck",
    "fsck.vfat",
    "sfdisk",
    "blkid",
)


def build(tmp: Path, name: str = "img", mutate: Callable[[Path, Path], None] | None = None) -> Path:
    """Build an image from fresh synthetic trees, after `mutate(boot_tree, root_tree)`."""
    boot = make_boot_tree(tmp / f"{name}-boot")
    root = make_root_tree(tmp / f"{name}-root")
    if mutate:
        mutate(boot, root)
    image = tmp / f"{name}.img"
    assemble(BuildSpec(boot, root, image, boot_mib=34, root_mib=6, source_date_epoch=1767225600))
    return image


def copy_image(image: Path, dest: Path) -> Path:
    """A sparse copy of an image, for tests that change it."""
    subprocess.run(["cp", "--sparse=always", str(image), str(dest)], check=True)
    return dest
