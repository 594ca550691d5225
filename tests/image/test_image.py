"""imagetool on small synthetic trees: a real FAT32 + ext4 MBR image of a few MiB, read back
without mounting (mtools, debugfs, sfdisk, blkid as independent oracles)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from imagetool.assemble import BuildSpec
from imagetool.contents import read_fat_file, read_root_file
from imagetool.layout import boot_and_root, read_table
from imagetool.shell import ImageError
from imagetool.verify import verify

from tests.image.synthetic import CMDLINE_TXT, CONFIG_TXT, SMALL, build, copy_image, write


def blkid(image: Path, offset: int) -> dict[str, str]:
    out = subprocess.run(
        ["blkid", "-p", "-o", "export", "--offset", str(offset), str(image)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_image_has_an_mbr_with_a_fat32_boot_and_an_ext4_root_by_label(generic_image: Path) -> None:
    image = generic_image
    table = read_table(image)
    assert table.label == "dos"
    boot, root = table.partitions
    assert (boot.start, boot.type_id, boot.bootable) == (8192, "c", True)  # 4 MiB aligned
    assert boot.size * 512 == 34 << 20 and root.size * 512 == 6 << 20
    assert root.type_id == "83" and root.start == boot.end
    fat, ext4 = blkid(image, boot.offset), blkid(image, root.offset)
    assert (fat["TYPE"], fat["LABEL"], fat.get("VERSION")) == ("vfat", "bootfs", "FAT32")
    assert (ext4["TYPE"], ext4["LABEL"]) == ("ext4", "rootfs")
    assert ext4["UUID"] == BuildSpec.root_uuid


def test_files_read_back_without_mounting(generic_image: Path) -> None:
    image = generic_image
    boot, root = boot_and_root(image)
    assert read_fat_file(image, boot, "/config.txt").decode() == CONFIG_TXT
    assert read_fat_file(image, boot, "/overlays/disable-bt.dtbo").startswith(b"\xd0\x0d\xfe\xed")
    assert read_root_file(image, root, "/etc/fstab").startswith(b"LABEL=rootfs / ext4 noatime")
    with pytest.raises(ImageError):
        read_root_file(image, root, "/etc/nope")


def test_generic_image_passes_verification(generic_image: Path) -> None:
    assert verify(generic_image, SMALL) == []


def test_boot_partition_smaller_than_the_policy_fails(generic_image: Path) -> None:
    problems = verify(generic_image)  # default policy: at least 256 MiB
    assert problems == ["boot partition 34 MiB < 256 MiB"]


PEM_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def _ssh_host_key(boot: Path, root: Path) -> None:
    write(root / "etc/ssh/ssh_host_ed25519_key", PEM_KEY, 0o600)


def _tls_key(boot: Path, root: Path) -> None:
    write(
        root / "etc/ssl/private/device.pem",
        "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n",
        0o600,
    )


def _machine_id(boot: Path, root: Path) -> None:
    write(root / "etc/machine-id", "0123456789abcdef0123456789abcdef\n")


def _root_password(boot: Path, root: Path) -> None:
    write(root / "etc/shadow", "root:$y$j9T$abc$def:20000:0:99999:7:::\n", 0o640)


def _site_bundle(boot: Path, root: Path) -> None:
    write(boot / "site.toml", 'site = "s"\ntoken = "secret"\n')


def _identity(boot: Path, root: Path) -> None:
    write(root / "var/lib/branchwatch/keys/device.key", "key", 0o600)


def _probed_cmdline(boot: Path, root: Path) -> None:
    write(boot / "cmdline.txt", "console=tty1 root=/dev/mmcblk0p2 rw cma=64M rootwait\n")


def _sensor_not_enabled(boot: Path, root: Path) -> None:
    (root / "etc/systemd/system/multi-user.target.wants/branchwatch.service").unlink()


def _missing_kernel(boot: Path, root: Path) -> None:
    write(boot / "config.txt", CONFIG_TXT.replace("kernel=vmlinuz", "kernel=vmlinux"))


def test_verifier_fails_on_a_baked_in_ssh_host_key(tmp_path: Path) -> None:
    problems = verify(build(tmp_path, mutate=_ssh_host_key), SMALL)
    assert sorted(problems) == [
        "private key in the image: /etc/ssh/ssh_host_ed25519_key",
        "root holds device- or site-specific data: /etc/ssh/ssh_host_ed25519_key",
    ]


MUTATIONS = [
    (_tls_key, "private key in the image: /etc/ssl/private/device.pem"),
    (_machine_id, "/etc/machine-id is not empty"),
    (_root_password, "/etc/shadow: root has a password (must be locked)"),
    (_site_bundle, "boot partition holds site data: /site.toml"),
    (_identity, "root holds device- or site-specific data: /var/lib/branchwatch/keys"),
    (_probed_cmdline, "cmdline.txt: no root=LABEL=rootfs"),
    (_probed_cmdline, "cmdline.txt: cma=64M"),
    (_sensor_not_enabled, "branchwatch.service not enabled"),
    (_missing_kernel, "config.txt names vmlinux-6.12.48+deb13-arm64, not on the boot partition"),
]


def test_verifier_catches_everything_that_must_not_ship(tmp_path: Path) -> None:
    # One image with every injection (one build instead of nine); the generic image above passes,
    # so each problem comes from its injection.
    def mutate_all(boot: Path, root: Path) -> None:
        for mutate, _ in MUTATIONS:
            mutate(boot, root)

    problems = verify(build(tmp_path, mutate=mutate_all), SMALL)
    for _, expected in MUTATIONS:
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    unexplained = [p for p in problems if not any(p.startswith(e) for _, e in MUTATIONS)]
    assert unexplained == []


def test_verifier_catches_a_filesystem_error(generic_image: Path, tmp_path: Path) -> None:
    image = copy_image(generic_image, tmp_path / "broken.img")
    _, root = boot_and_root(image)
    # A wrong link count: e2fsck -fn must report it.
    subprocess.run(
        ["debugfs", "-w", "-R", "sif /etc/fstab links_count 7", f"{image}?offset={root.offset}"],
        capture_output=True, check=True,
    )  # fmt: skip
    problems = verify(image, SMALL)
    assert len(problems) == 1 and problems[0].startswith("e2fsck: exit 4"), problems


def test_image_without_partitions_is_rejected(tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(1 << 20))
    problems = verify(blank, SMALL)
    assert problems and "partition" in problems[0]


def test_cmdline_keeps_the_label_the_root_is_built_with() -> None:
    # The synthetic cmdline mirrors raspi-firmware's with ROOTPART=LABEL=rootfs, CMA=0.
    assert "root=LABEL=rootfs" in CMDLINE_TXT.split() and "cma=" not in CMDLINE_TXT
