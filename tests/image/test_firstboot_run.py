"""The first-boot scripts, executed against an MBR image file built by imagetool.

A "boot" here is what systemd does on the card, played by the test:
  1. branchwatch-datapart runs on the image file (BW_DATAPART_DISK): sfdisk appends partition 3,
     mke2fs/debugfs/tune2fs work at its byte offset (no loop devices on these machines);
  2. the test mounts what fstab would (as long as partition 3 carries the "bwdata" label): the
     root partition (fuse2fs, as "/"), the FAT partition (fusefat, on /boot/firmware: fusefat has
     no offset option, so the partition is copied out and back), the data partition (fuse2fs,
     /data) and /data/branchwatch bound on /var/lib/branchwatch;
  3. branchwatch-firstboot runs with that root (BW_FIRSTBOOT_ROOT), with stubs for `branchwatch
     leds` (records the state) and systemctl (records the call); provisioning is the real
     `python -m firmware firstboot`.
Every outcome is then read from the image itself (sfdisk, blkid, debugfs, mtools, raw bytes).

What this cannot show: the systemd sandbox itself (no systemd as PID 1 here), BLKPG/udev on a
real SD card (the block-device branch of the script: partx, udevadm, partition nodes), and a real
power cut: SIGKILL at a step boundary stops the scripts there, but nothing unsynced is lost (the
page cache survives), so the fsync ordering is not tested, only that every boundary restarts.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require
from tests.firmware.test_firstboot import BUNDLE
from tests.image.synthetic import build, write

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "image-build" / "overlay" / "usr" / "lib" / "branchwatch"
DATAPART = SCRIPTS / "branchwatch-datapart"
FIRSTBOOT = SCRIPTS / "branchwatch-firstboot"
MIB = 1024 * 1024
SPARE_MIB = 80  # "the rest of the card" behind the image's root partition
BRANCHWATCH_GID = 998
SECRETS = ("enrol-token-SECRET-123", "SECRET-789", "wifi-password-SECRET-456")
DATAPART_STEPS = ("wiped", "partitioned", "unlabelled", "formatted", "populated", "labelled")
FIRSTBOOT_STEPS = ("ssh-ed25519", "ssh-ecdsa", "ssh-rsa", "provisioned")
RUN_TOOLS = (
    "fuse2fs", "fusefat", "fusermount", "ssh-keygen", "sfdisk", "partx", "mke2fs", "debugfs",
    "tune2fs", "e2fsck", "blkid", "mtype", "mdir", "fsck.vfat", "mountpoint",
)  # fmt: skip


def _require_tools() -> None:
    require(os.geteuid() == 0, "needs root (fuse and bind mounts, chgrp)")
    require(Path("/dev/fuse").exists(), "no /dev/fuse")
    missing = [t for t in RUN_TOOLS if shutil.which(t) is None]
    require(not missing, f"missing {missing} (apt-get install fuse2fs fusefat openssh-client)")


@pytest.fixture(autouse=True)
def _can_run() -> None:
    _require_tools()


@dataclass(frozen=True)
class Part:
    number: int
    start: int  # sectors
    size: int
    type_id: str

    @property
    def offset(self) -> int:
        return self.start * 512


@dataclass(frozen=True)
class Card:
    tmp: Path
    image: Path
    stubs: Path

    @property
    def leds_log(self) -> Path:
        return self.tmp / "leds.log"

    @property
    def systemctl_log(self) -> Path:
        return self.tmp / "systemctl.log"


def _appliance_root(boot: Path, root: Path) -> None:
    """What the image's root has that the synthetic tree lacks: the group and mount points."""
    write(root / "etc/group", f"root:x:0:\nbranchwatch:x:{BRANCHWATCH_GID}:\n")
    for folder in ("data", "var/lib/branchwatch", "var/log/journal"):
        (root / folder).mkdir(parents=True, exist_ok=True)


def _stub(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def make_card(tmp: Path, bundle: str = BUNDLE) -> Card:
    """A generic image with SPARE_MIB of card behind it, personalised with `bundle`."""
    from imagetool.personalise import personalise

    tmp.mkdir(parents=True, exist_ok=True)
    image = build(tmp, mutate=_appliance_root)
    with image.open("r+b") as fh:
        fh.truncate(image.stat().st_size + SPARE_MIB * MIB)
    (tmp / "site.toml").write_text(bundle)
    personalise(image, tmp / "site.toml")
    stubs = tmp / "bin"
    stubs.mkdir()
    _stub(
        stubs / "branchwatch",
        "#!/bin/bash\n"
        f'if [ "$1" = leds ]; then echo "$*" >> {tmp}/leds.log; exec sleep 600; fi\n'
        f'exec {sys.executable} -m firmware "$@"\n',
    )
    _stub(stubs / "systemctl", f'#!/bin/sh\necho "$*" >> {tmp}/systemctl.log\n')
    return Card(tmp, image, stubs)


def partitions(image: Path) -> list[Part]:
    out = subprocess.run(
        ["partx", "-g", "-o", "NR,START,SECTORS,TYPE", str(image)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [
        Part(int(nr), int(start), int(size), type_id.lower())
        for nr, start, size, type_id in (line.split() for line in out.splitlines())
    ]


def fs_label(image: Path, part: Part) -> str:
    out = subprocess.run(
        ["blkid", "-p", "-O", str(part.offset), "-S", str(part.size * 512),
         "-o", "value", "-s", "LABEL", str(image)],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return out.strip()


def _env(card: Card, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env["PATH"] = f"{card.stubs}:{env.get('PATH', '/usr/bin:/bin')}:/usr/sbin:/sbin"
    env["PYTHONPATH"] = str(REPO)
    env["BW_FIRSTBOOT_BRANCHWATCH"] = str(card.stubs / "branchwatch")
    env.update(extra)
    return env


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=180
    )


# --- mounting what fstab would mount -------------------------------------------------------


def _daemon_pid(program: str, mountpoint: Path) -> int:
    """The pid of the FUSE daemon serving `mountpoint` (it forked away from its parent, and
    fusefat rewrites its own options in argv: matched on the program and the mountpoint)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if Path(argv[0].decode()).name == program and str(mountpoint).encode() in argv:
                return int(entry.name)
    raise AssertionError(f"no {program} serving {mountpoint}")


@contextmanager
def _fuse(argv: list[str], mountpoint: Path) -> Iterator[Path]:
    """Mount with a FUSE daemon; on exit unmount and wait (pidfd) until it has written back."""
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    try:
        pidfd = os.pidfd_open(_daemon_pid(argv[0], mountpoint))
    except BaseException:
        subprocess.run(["fusermount", "-u", str(mountpoint)], timeout=60)
        raise
    try:
        yield mountpoint
    finally:
        # Lazy: detached at once; the daemon exits (writing back) once nothing uses it.
        subprocess.run(["fusermount", "-u", "-z", str(mountpoint)], check=True, timeout=60)
        ready, _, _ = select.select([pidfd], [], [], 60)
        os.close(pidfd)
        assert ready, f"FUSE daemon for {mountpoint} did not exit"


@contextmanager
def _bind(source: Path, target: Path) -> Iterator[None]:
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


@contextmanager
def mounted(card: Card) -> Iterator[Path]:
    """The card's filesystems mounted as fstab says, under tmp/mnt; yields the root."""
    parts = partitions(card.image)
    boot, root = parts[0], parts[1]
    mnt = card.tmp / "mnt"
    mnt.mkdir(exist_ok=True)
    fat = card.tmp / "boot.vfat"
    subprocess.run(
        ["dd", f"if={card.image}", f"of={fat}", "bs=512", f"skip={boot.start}",
         f"count={boot.size}", "conv=sparse", "status=none"],
        check=True,
    )  # fmt: skip
    try:
        with ExitStack() as stack:
            image = str(card.image)
            stack.enter_context(
                _fuse(["fuse2fs", image, str(mnt), "-o", f"offset={root.offset}"], mnt)
            )
            stack.enter_context(
                _fuse(["fusefat", "-o", "rw+", str(fat), str(mnt / "boot/firmware")],
                      mnt / "boot/firmware")
            )  # fmt: skip
            if len(parts) >= 3 and fs_label(card.image, parts[2]) == "bwdata":
                data = parts[2]
                stack.enter_context(
                    _fuse(["fuse2fs", image, str(mnt / "data"), "-o", f"offset={data.offset}"],
                          mnt / "data")
                )  # fmt: skip
                stack.enter_context(_bind(mnt / "data/branchwatch", mnt / "var/lib/branchwatch"))
            yield mnt
    finally:
        subprocess.run(
            ["dd", f"if={fat}", f"of={card.image}", "bs=512", f"seek={boot.start}",
             "conv=notrunc", "status=none"],  # not sparse: zeroed blocks must land too
            check=True,
        )  # fmt: skip


# --- a boot ----------------------------------------------------------------------------------


def boot(card: Card, stop_at: str = "") -> bool:
    """One boot of the card; False when it was cut (SIGKILL) at step `stop_at`."""
    extra = {"BW_FIRSTBOOT_STOP_AT": stop_at} if stop_at else {}
    disk = _run(DATAPART, _env(card, BW_DATAPART_DISK=str(card.image), **extra))
    if disk.returncode == -signal.SIGKILL:
        return False
    assert disk.returncode == 0, disk.stdout + disk.stderr
    with mounted(card) as root:
        first = _run(FIRSTBOOT, _env(card, BW_FIRSTBOOT_ROOT=str(root), **extra))
    if first.returncode == -signal.SIGKILL:
        return False
    assert first.returncode == 0, first.stdout + first.stderr
    return True


# --- reading the outcome from the image -------------------------------------------------------


@dataclass(frozen=True)
class Node:
    mode: int
    uid: int
    gid: int
    sha256: str  # "" for directories


def _rdump(image: Path, part: Part, paths: tuple[str, ...], dest: Path) -> dict[str, Node]:
    """debugfs rdump of `paths` (those that exist) from an ext4 partition of the image."""
    dest.mkdir(parents=True)
    spec = f"{image}?offset={part.offset}"
    for path in paths:
        probe = subprocess.run(["debugfs", "-R", f"stat {path}", spec], capture_output=True)
        if b"File not found" not in probe.stderr:
            subprocess.run(
                ["debugfs", "-R", f"rdump {path} {dest}", spec], check=True, capture_output=True
            )
    nodes: dict[str, Node] = {}
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st = full.lstat()
            if stat.S_ISDIR(st.st_mode):
                digest = ""
            elif stat.S_ISLNK(st.st_mode):
                digest = hashlib.sha256(os.readlink(full).encode()).hexdigest()
            else:
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
            nodes[str(full.relative_to(dest))] = Node(st.st_mode, st.st_uid, st.st_gid, digest)
    return nodes


def _fat_files(image: Path, boot_part: Part) -> dict[str, bytes]:
    spec = f"{image}@@{boot_part.offset}"
    out = subprocess.run(["mdir", "-b", "-i", spec, "::/"], capture_output=True, text=True)
    names = [line.removeprefix("::/") for line in out.stdout.split() if line.startswith("::/")]
    files = {}
    for name in names:
        got = subprocess.run(["mtype", "-i", spec, f"::/{name}"], capture_output=True)
        if got.returncode == 0:
            files[name] = got.stdout
    return files


@dataclass(frozen=True)
class CardState:
    table: tuple[tuple[int, int, int, str], ...]
    data_label: str
    data_uuid: str
    root: dict[str, Node]  # etc/ssh, etc/branchwatch, ... from the root partition
    data: dict[str, Node]  # the data partition
    fat: dict[str, bytes]
    raw_fat: bytes

    def shape(self) -> tuple[object, ...]:
        """What must be the same after any boot sequence: names, modes, owners, not key bytes."""

        def nodes(tree: dict[str, Node]) -> dict[str, tuple[int, int, int]]:
            return {path: (n.mode, n.uid, n.gid) for path, n in tree.items()}

        return (self.table, self.data_label, nodes(self.root), nodes(self.data), sorted(self.fat))


def read_state(card: Card, name: str) -> CardState:
    parts = partitions(card.image)
    boot_part, root_part, data_part = parts[0], parts[1], parts[2]
    uuid = read_uuid(card.image, data_part)
    for part in (root_part, data_part):
        check = subprocess.run(
            ["e2fsck", "-fn", f"{card.image}?offset={part.offset}"], capture_output=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
    out = card.tmp / f"state-{name}"
    root = _rdump(
        card.image, root_part,
        ("/etc/ssh", "/etc/branchwatch", "/etc/systemd/network", "/etc/systemd/timesyncd.conf.d",
         "/etc/sysctl.d", "/etc/wpa_supplicant", "/root"),
        out / "root",
    )  # fmt: skip
    data = _rdump(card.image, data_part, ("/",), out / "data")
    with card.image.open("rb") as fh:
        fh.seek(boot_part.offset)
        raw_fat = fh.read(boot_part.size * 512)
    return CardState(
        table=tuple((p.number, p.start, p.size, p.type_id) for p in parts),
        data_label=fs_label(card.image, data_part),
        data_uuid=uuid,
        root=root,
        data=data,
        fat=_fat_files(card.image, boot_part),
        raw_fat=raw_fat,
    )


def _data_entry(state: CardState, suffix: str) -> Node:
    matches = [n for path, n in state.data.items() if path.endswith(suffix)]
    assert len(matches) == 1, (suffix, sorted(state.data))
    return matches[0]


def _check_provisioned(card: Card, state: CardState) -> None:
    """Everything issue 8 asks of a first boot, read from the image."""
    # Data partition 3: Linux, aligned, over the rest of the card, ext4 "bwdata".
    boot_part, root_part, data_part = (state.table[i] for i in range(3))
    assert len(state.table) == 3 and data_part[0] == 3 and data_part[3] == "0x83"
    assert data_part[1] % 8192 == 0 and data_part[1] >= root_part[1] + root_part[2]
    assert (data_part[1] + data_part[2]) * 512 == card.image.stat().st_size
    assert data_part[2] * 512 >= (SPARE_MIB - 4) * MIB
    assert state.data_label == "bwdata"
    assert {"branchwatch", "journal"} <= {p.split("/")[0] for p in state.data}
    # Device keys: on the data partition, 0600, root's.
    for key in ("keys/signing.key", "keys/tls.key", "keys/enrol.key"):
        node = _data_entry(state, key)
        assert stat.S_IMODE(node.mode) == 0o600 and node.uid == 0, key
    assert any(p.endswith("identity.json") for p in state.data)
    # ssh host keys: complete pairs, private 0600, public 0644.
    for kind in ("ed25519", "ecdsa", "rsa"):
        private = state.root[f"ssh/ssh_host_{kind}_key"]
        public = state.root[f"ssh/ssh_host_{kind}_key.pub"]
        assert stat.S_IMODE(private.mode) == 0o600 and stat.S_IMODE(public.mode) == 0o644
    # Configuration readable by the sensor's group only.
    config = state.root["branchwatch/branchwatch.toml"]
    assert stat.S_IMODE(config.mode) == 0o640 and config.gid == BRANCHWATCH_GID
    assert stat.S_IMODE(state.root["branchwatch"].mode) == 0o750
    # The FAT partition: PROVISIONED.txt without secrets, no bundle, no key; not even in its
    # free space (the bundle was overwritten before it was deleted).
    assert "site.toml" not in state.fat and "PROVISIONED.txt" in state.fat
    assert b"sensor_id: bw-0001" in state.fat["PROVISIONED.txt"]
    for secret in SECRETS:
        assert secret.encode() not in state.raw_fat, secret
    assert b"PRIVATE KEY" not in state.raw_fat
    assert not any(name.endswith((".key", ".pem")) for name in state.fat)
    fat_copy = card.tmp / "check.vfat"
    subprocess.run(
        ["dd", f"if={card.image}", f"of={fat_copy}", "bs=512", f"skip={boot_part[1]}",
         f"count={boot_part[2]}", "status=none"],
        check=True,
    )  # fmt: skip
    clean = subprocess.run(["fsck.vfat", "-n", str(fat_copy)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout


# --- tests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoBoots:
    card: Card
    first: CardState
    second: CardState
    leds: tuple[list[str], list[str]]  # LED states shown by the first boot, then the second
    systemctl: tuple[list[str], list[str]]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def two_boots(tmp_path_factory: pytest.TempPathFactory) -> TwoBoots:
    """A personalised card booted twice (module-wide: every boot takes seconds)."""
    _require_tools()
    card = make_card(tmp_path_factory.mktemp("two-boots") / "card")
    assert boot(card)
    first = read_state(card, "first")
    leds1, ctl1 = _lines(card.leds_log), _lines(card.systemctl_log)
    assert boot(card)
    second = read_state(card, "second")
    leds2, ctl2 = _lines(card.leds_log)[len(leds1) :], _lines(card.systemctl_log)[len(ctl1) :]
    return TwoBoots(card, first, second, (leds1, leds2), (ctl1, ctl2))


def test_first_boot_provisions_a_personalised_image(two_boots: TwoBoots) -> None:
    _check_provisioned(two_boots.card, two_boots.first)
    # "P" while the data partition is made, and again while provisioning; sysctl re-applied.
    assert two_boots.leds[0] == ["leds --state P", "leds --state P"]
    assert two_boots.systemctl[0] == ["restart systemd-sysctl.service"]


def test_second_boot_changes_nothing(two_boots: TwoBoots) -> None:
    first, second = two_boots.first, two_boots.second
    assert second.data_uuid == first.data_uuid  # not formatted again
    assert second.table == first.table
    assert second.root == first.root  # same host keys, configuration, modes, owners
    assert second.data == first.data  # same device keys and identity
    assert second.fat == first.fat  # same PROVISIONED.txt
    assert two_boots.leds[1] == [] and two_boots.systemctl[1] == []


def test_data_partition_step_twice_leaves_the_image_byte_identical(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card")
    env = _env(card, BW_DATAPART_DISK=str(card.image))
    assert _run(DATAPART, env).returncode == 0
    before = hashlib.sha256(card.image.read_bytes()).hexdigest()
    again = _run(DATAPART, env)
    assert again.returncode == 0, again.stderr
    assert hashlib.sha256(card.image.read_bytes()).hexdigest() == before
    assert "formatting" not in again.stdout and "creating" not in again.stdout


def test_an_old_filesystem_in_the_free_space_is_not_taken_for_the_data_partition(
    tmp_path: Path,
) -> None:
    """A card used before holds an old "bwdata" where partition 3 will start: it is formatted."""
    card = make_card(tmp_path / "card")
    parts = partitions(card.image)
    start = (parts[1].start + parts[1].size + 8191) // 8192 * 8192
    old_uuid = "11111111-2222-3333-4444-555555555555"
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "bwdata", "-U", old_uuid,
         "-E", f"offset={start * 512}", str(card.image), "8M"],
        check=True, capture_output=True,
    )  # fmt: skip
    env = _env(card, BW_DATAPART_DISK=str(card.image))
    assert _run(DATAPART, env).returncode == 0
    data = partitions(card.image)[2]
    assert data.start == start
    assert fs_label(card.image, data) == "bwdata" and read_uuid(card.image, data) != old_uuid


def read_uuid(image: Path, part: Part) -> str:
    return subprocess.run(
        ["blkid", "-p", "-O", str(part.offset), "-o", "value", "-s", "UUID", str(image)],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def test_without_the_data_partition_provisioning_waits_and_keeps_the_bundle(
    tmp_path: Path,
) -> None:
    card = make_card(tmp_path / "card")
    with mounted(card) as root:  # as if data.mount had failed: nothing on /var/lib/branchwatch
        run = _run(FIRSTBOOT, _env(card, BW_FIRSTBOOT_ROOT=str(root)))
        assert run.returncode == 1
        assert "not mounted" in run.stderr
        assert (root / "boot/firmware/site.toml").exists()
        assert (root / "etc/ssh/ssh_host_ed25519_key").exists()  # host keys do not wait
        assert not (root / "var/lib/branchwatch/keys").exists()


def _cut_and_recover(tmp_path: Path, step: str, reference: CardState) -> CardState:
    """Cut the first boot at `step`, boot again: the card ends as a card never cut does."""
    card = make_card(tmp_path / "card")
    assert not boot(card, stop_at=step), f"step {step} was never reached"
    assert boot(card)
    state = read_state(card, "after")
    _check_provisioned(card, state)
    assert state.shape() == reference.shape()
    # Two cards (this one and the reference) never share keys.
    for path in ("ssh/ssh_host_ed25519_key", "ssh/ssh_host_rsa_key.pub"):
        assert state.root[path].sha256 != reference.root[path].sha256, path
    signing = _data_entry(state, "keys/signing.key").sha256
    assert signing != _data_entry(reference, "keys/signing.key").sha256
    assert state.data_uuid != reference.data_uuid
    return state


@pytest.mark.parametrize("step", ["formatted"])  # the rest: test-slow, below
def test_power_cut_at_a_step_then_reboot_gives_the_same_card(
    tmp_path: Path, step: str, two_boots: TwoBoots
) -> None:
    _cut_and_recover(tmp_path, step, two_boots.first)


@pytest.mark.slow
@pytest.mark.parametrize("step", [*DATAPART_STEPS, "done", *FIRSTBOOT_STEPS])
def test_power_cut_at_every_step_then_reboot_gives_the_same_card(
    tmp_path: Path, step: str, two_boots: TwoBoots
) -> None:
    _cut_and_recover(tmp_path, step, two_boots.first)


@pytest.mark.slow
def test_a_half_made_filesystem_is_formatted_again(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card")
    assert not boot(card, stop_at="populated")  # mkfs done, label not yet committed
    data = partitions(card.image)[2]
    assert fs_label(card.image, data) == "bwdata-partial"
    cut_uuid = read_uuid(card.image, data)
    assert boot(card)
    state = read_state(card, "after")
    _check_provisioned(card, state)
    assert state.data_uuid != cut_uuid


# --- the units' syscall filters against what the scripts call ----------------------------------


def _group(name: str, cache: dict[str, set[str]]) -> set[str]:
    """A systemd syscall group, nested groups expanded (systemd-analyze syscall-filter)."""
    if name not in cache:
        out = subprocess.run(
            ["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True
        ).stdout
        names: set[str] = set()
        for line in (raw.strip() for raw in out.splitlines()[1:]):
            if line.startswith("@"):
                names |= _group(line, cache)
            elif line and not line.startswith("#"):
                names.add(line)
        cache[name] = names
    return cache[name]


def _filter(unit: str) -> tuple[set[str], set[str]]:
    """(allowed, denied) syscalls of a unit's SystemCallFilter= lines."""
    cache: dict[str, set[str]] = {}
    allowed: set[str] = set()
    denied: set[str] = set()
    text = (REPO / "firmware" / "units" / unit).read_text()
    for value in re.findall(r"^SystemCallFilter=(.*)$", text, re.M):
        target = denied if value.startswith("~") else allowed
        for word in value.lstrip("~").split():
            target |= _group(word, cache) if word.startswith("@") else {word}
    return allowed, denied


def _traced(strace_summary: Path) -> set[str]:
    """Syscall names from `strace -c -f` output."""
    names = set()
    for line in strace_summary.read_text().splitlines():
        match = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+(?:\d+\s+)?(\w+)$", line)
        if match and match.group(1) != "total":
            names.add(match.group(1))
    return names


def _assert_filter_allows(unit: str, used: set[str]) -> None:
    allowed, denied = _filter(unit)
    assert used, "strace saw nothing"
    assert sorted(used - allowed) == [] and sorted(used & denied) == [], unit


def test_disk_step_calls_only_syscalls_its_unit_allows(tmp_path: Path) -> None:
    """Every syscall of the disk step (file branch: sfdisk, mke2fs, debugfs, tune2fs, e2fsck,
    blkid, dd, bash) on a first and a second boot passes branchwatch-datapart.service's filter.
    The block-device branch adds partx (ioctl BLKPG) and udevadm, not traced here."""
    require(shutil.which("strace") is not None, "strace missing (apt-get install strace)")
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze missing")
    card = make_card(tmp_path / "card")
    used: set[str] = set()
    for run in ("first", "second"):
        summary = tmp_path / f"strace-{run}.txt"
        env = _env(card, BW_DATAPART_DISK=str(card.image))
        traced = subprocess.run(
            ["strace", "-f", "-c", "-o", str(summary), "bash", str(DATAPART)],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert traced.returncode == 0, traced.stderr
        used |= _traced(summary)
    _assert_filter_allows("branchwatch-datapart.service", used)


@pytest.mark.slow
def test_provisioning_calls_only_syscalls_its_unit_allows(tmp_path: Path) -> None:
    """ssh-keygen, `python -m firmware firstboot`, chgrp/chmod/find under strace on a card."""
    require(shutil.which("strace") is not None, "strace missing (apt-get install strace)")
    card = make_card(tmp_path / "card")
    assert _run(DATAPART, _env(card, BW_DATAPART_DISK=str(card.image))).returncode == 0
    summary = tmp_path / "strace.txt"
    with mounted(card) as root:
        traced = subprocess.run(
            ["strace", "-f", "-c", "-o", str(summary), "bash", str(FIRSTBOOT)],
            env=_env(card, BW_FIRSTBOOT_ROOT=str(root)),
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert "firstboot: provisioned" in traced.stdout
    _assert_filter_allows("branchwatch-firstboot.service", _traced(summary))
