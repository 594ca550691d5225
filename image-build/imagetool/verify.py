"""Check a built image, without mounting it, against the generic-image policy.

A generic image boots any Pi 4 and holds nothing device- or site-specific: no ssh host keys, an
empty machine-id, no site bundle, identity, private key or token, root locked. The boot partition
must carry what the Pi 4 firmware needs and a command line that finds the root by label; the
appliance's units must be enabled; both filesystems must be fsck-clean.
"""

from __future__ import annotations

import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imagetool import MIB
from imagetool.assemble import BOOT_LABEL, ROOT_LABEL
from imagetool.contents import (
    Entry,
    ext4_listing,
    ext4_spec,
    fat_paths,
    fat_spec,
    read_fat_file,
    read_root_file,
)
from imagetool.layout import FAT32_LBA, LINUX, Partition, read_table
from imagetool.shell import ImageError, run

PI4_BOOT_FILES = ("start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "config.txt", "cmdline.txt")
UNITS = ("branchwatch.service", "branchwatch-firstboot.service")
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
# Trees whose file contents are scanned for private keys (code in /usr and the venv is not).
SCANNED = ("/etc", "/root", "/home", "/var/lib", "/srv", "/boot")
# Files only first boot may write: their presence means site data was baked in.
SITE_FILES = re.compile(
    r"(^|/)(site\.toml|PROVISIONED\.txt)$"
    r"|^/etc/ssh/ssh_host_"
    r"|^/etc/branchwatch/branchwatch\.toml$"
    r"|^/var/lib/branchwatch/."
    r"|^/root/\.ssh/authorized_keys$"
    r"|^/etc/wpa_supplicant/wpa_supplicant-.*\.conf$"
    r"|^/etc/systemd/network/(10-capture|20-uplink)-"
)


@dataclass(frozen=True)
class Policy:
    min_boot_mib: int = 256
    units: tuple[str, ...] = UNITS
    boot_files: tuple[str, ...] = PI4_BOOT_FILES


def verify(image: Path, policy: Policy | None = None) -> list[str]:
    """Every way the image breaks the policy (empty when it is fine)."""
    policy = policy or Policy()
    problems = _check_table(image, policy)
    if problems:
        return problems
    table = read_table(image)
    boot, root = table.partitions[0], table.partitions[1]
    problems += _check_boot(image, boot, policy)
    problems += _check_root(image, root, policy)
    problems += _check_fsck(image, boot, root)
    return problems


def _check_table(image: Path, policy: Policy) -> list[str]:
    try:
        table = read_table(image)
    except ImageError as exc:
        return [str(exc)]
    parts = table.partitions
    problems = []
    if table.label != "dos":
        problems.append(f"partition table is {table.label}, not MBR (dos)")
    if len(parts) != 2:
        problems.append(
            f"{len(parts)} partitions: expected boot and root (data is made on first boot)"
        )
        return problems
    boot, root = parts
    if boot.type_id not in (FAT32_LBA, "b"):
        problems.append(f"partition 1 type {boot.type_id}: expected FAT32 (c)")
    if boot.size_bytes < policy.min_boot_mib * MIB:
        problems.append(f"boot partition {boot.size_bytes // MIB} MiB < {policy.min_boot_mib} MiB")
    if root.type_id != LINUX:
        problems.append(f"partition 2 type {root.type_id}: expected Linux (83)")
    if root.start < boot.end:
        problems.append("partitions overlap")
    if root.end * 512 > image.stat().st_size:
        problems.append("root partition runs past the end of the image")
    return problems


def _check_boot(image: Path, boot: Partition, policy: Policy) -> list[str]:
    problems = []
    label = run(["mlabel", "-s", "-i", fat_spec(image, boot), "::"]).stdout
    if f"Volume label is {BOOT_LABEL}".lower() not in label.lower():
        problems.append(f"boot partition label: {label.strip()!r}, expected {BOOT_LABEL}")
    paths = fat_paths(image, boot)
    present = {p.lower() for p in paths}
    for name in policy.boot_files:
        if f"/{name}".lower() not in present:
            problems.append(f"boot partition lacks {name}")
    problems += [f"boot partition holds site data: {p}" for p in paths if SITE_FILES.search(p)]
    if "/cmdline.txt" in present:
        cmdline = read_fat_file(image, boot, "/cmdline.txt").decode(errors="replace").split()
        if f"root=LABEL={ROOT_LABEL}" not in cmdline:
            problems.append(f"cmdline.txt: no root=LABEL={ROOT_LABEL}: {' '.join(cmdline)}")
        problems += [f"cmdline.txt: {arg}" for arg in cmdline if arg.startswith("cma=")]
    if "/config.txt" in present:
        config = read_fat_file(image, boot, "/config.txt").decode(errors="replace")
        for name in _named_in_config(config):
            if f"/{name}".lower() not in present:
                problems.append(f"config.txt names {name}, not on the boot partition")
    return problems


def _named_in_config(config: str) -> list[str]:
    """Files config.txt loads: `kernel=NAME` and `initramfs NAME [followkernel]`."""
    names = []
    for line in config.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"kernel\s*=\s*(\S+)$", line) or re.match(r"initramfs\s+(\S+)", line)
        if match:
            names.append(match.group(1))
    return names


def _check_root(image: Path, root: Partition, policy: Policy) -> list[str]:
    problems = []
    stats = run(["debugfs", "-R", "stats", ext4_spec(image, root)]).stdout
    label = re.search(r"Filesystem volume name:\s*(\S*)", stats)
    if not label or label.group(1) != ROOT_LABEL:
        problems.append(
            f"root filesystem label {label.group(1) if label else '?'}, expected {ROOT_LABEL}"
        )
    entries = ext4_listing(image, root)
    problems += [
        f"root holds device- or site-specific data: {p}" for p in entries if SITE_FILES.search(p)
    ]
    problems += _check_machine_id(entries)
    problems += _check_units(image, root, entries, policy)
    problems += _check_shadow(image, root, entries)
    problems += _scan_private_keys(image, root)
    return problems


def _check_machine_id(entries: dict[str, Entry]) -> list[str]:
    machine_id = entries.get("/etc/machine-id")
    if machine_id is None:
        return ["/etc/machine-id missing (must exist, empty)"]
    problems = [] if machine_id.size == 0 else ["/etc/machine-id is not empty"]
    dbus = entries.get("/var/lib/dbus/machine-id")
    if dbus is not None and not stat.S_ISLNK(dbus.mode):
        problems.append("/var/lib/dbus/machine-id is a file (must be absent or a link)")
    return problems


def _check_units(
    image: Path, root: Partition, entries: dict[str, Entry], policy: Policy
) -> list[str]:
    problems = []
    for unit in policy.units:
        link = f"/etc/systemd/system/multi-user.target.wants/{unit}"
        entry = entries.get(link)
        if entry is None or not stat.S_ISLNK(entry.mode):
            problems.append(f"{unit} not enabled ({link} missing)")
            continue
        target = _link_target(image, root, link)
        resolved = target if target.startswith("/") else f"{Path(link).parent}/{target}"
        if resolved not in entries:
            problems.append(f"{unit} enabled but {resolved} is not in the image")
    return problems


def _link_target(image: Path, root: Partition, link: str) -> str:
    out = run(["debugfs", "-R", f"stat {link}", ext4_spec(image, root)]).stdout
    match = re.search(r'Fast link dest:\s*"([^"]*)"', out)
    return match.group(1) if match else read_root_file(image, root, link).decode()


def _check_shadow(image: Path, root: Partition, entries: dict[str, Entry]) -> list[str]:
    if "/etc/shadow" not in entries:
        return ["/etc/shadow missing"]
    problems = []
    for line in read_root_file(image, root, "/etc/shadow").decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) < 2:
            continue
        user, password = fields[0], fields[1]
        if not password.startswith(("!", "*")):
            state = "no password" if password == "" else "a password"
            problems.append(f"/etc/shadow: {user} has {state} (must be locked)")
    return problems


def _scan_private_keys(image: Path, root: Partition) -> list[str]:
    problems = []
    with tempfile.TemporaryDirectory(prefix="imagetool-scan-") as tmp:
        commands = Path(tmp) / "commands"
        out = Path(tmp) / "tree"
        out.mkdir()
        commands.write_text("".join(f"rdump {d} {out}\n" for d in SCANNED))
        run(["debugfs", "-f", str(commands), ext4_spec(image, root)])
        for path in sorted(out.rglob("*")):
            is_file = path.is_file() and not path.is_symlink()
            if is_file and PRIVATE_KEY.search(path.read_bytes()):
                problems.append(f"private key in the image: /{path.relative_to(out)}")
    return problems


def _check_fsck(image: Path, boot: Partition, root: Partition) -> list[str]:
    problems = []
    ext4 = run(["e2fsck", "-fn", ext4_spec(image, root)], check=False)
    if ext4.returncode != 0:
        problems.append(f"e2fsck: exit {ext4.returncode}: {ext4.stdout.strip()[-300:]}")
    with tempfile.TemporaryDirectory(prefix="imagetool-fsck-") as tmp:
        fat = Path(tmp) / "boot.vfat"
        run(
            [
                "dd", f"if={image}", f"of={fat}", "bs=1M", f"skip={boot.offset}",
                f"count={boot.size_bytes}", "iflag=skip_bytes,count_bytes", "conv=sparse",
                "status=none",
            ]
        )  # fmt: skip
        vfat = run(["fsck.vfat", "-n", str(fat)], check=False)
        if vfat.returncode != 0:
            problems.append(f"fsck.vfat: exit {vfat.returncode}: {vfat.stdout.strip()[-300:]}")
    return problems
