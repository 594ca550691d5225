"""Power cuts: a FUSE filesystem drops every write and directory entry not yet fsynced.

SIGKILL keeps the page cache, so it cannot catch a missing fsync; this can. The workload and
the checks are the crash test's (test_crash.workload / check_recovery): after each cut, the
buffer opens, no finding whose store() returned is lost (unless acked), none is held twice,
batches verify and chain, and no sequence number is reused.
"""

from __future__ import annotations

import importlib.util
import os
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require
from tests.uplink.test_crash import check_recovery, workload
from uplink.segment import FileOps


class PowerFS:
    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.uplink.powerfs", str(mountpoint)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(30.0) and self.proc.stdout.readline().strip() == b"ready"
        if not ready:
            self.close()
            pytest.fail("the FUSE test filesystem did not mount")

    def ctl(self, command: str) -> None:
        with open(self.mountpoint / ".ctl", "w") as f:
            f.write(command)

    def state(self) -> tuple[int, bool]:
        with open(self.mountpoint / ".ctl") as f:
            ops, cut = f.read().split()
        return int(ops), cut == "1"

    def close(self) -> None:
        tool = shutil.which("fusermount") or shutil.which("fusermount3")
        if tool and os.path.ismount(self.mountpoint):
            subprocess.run([tool, "-u", str(self.mountpoint)], check=False)
        try:
            self.proc.wait(10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _fusepy_loads() -> bool:
    if importlib.util.find_spec("fuse") is None:
        return False
    try:
        import fuse  # noqa: F401  (loads libfuse.so.2)
    except OSError:
        return False
    return True


@pytest.fixture
def powerfs(tmp_path: Path) -> Iterator[PowerFS]:
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing (no FUSE in this kernel/container)")
    require(os.geteuid() == 0 or shutil.which("fusermount") is not None, "cannot mount FUSE")
    require(_fusepy_loads(), "fusepy or libfuse2 is not installed")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    fs = PowerFS(mountpoint)
    try:
        yield fs
    finally:
        fs.close()


def run_workload(directory: Path, rounds: int) -> list[str]:
    """Fork a child running the workload on the FUSE mount; it dies on EIO after the cut."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(read_fd)
            workload(directory, FileOps(), write_fd, rounds)
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode().splitlines()


def run_cuts(fs: PowerFS, rounds: int, limit: int) -> int:
    fs.ctl("reset")
    lines = run_workload(fs.mountpoint, rounds)
    total, _ = fs.state()
    check_recovery(fs.mountpoint, lines)
    count = min(limit, total)
    cuts = [i * total // count for i in range(count)]
    for cut in cuts:
        fs.ctl("reset")
        fs.ctl(f"cut {cut}")
        lines = run_workload(fs.mountpoint, rounds)
        _, happened = fs.state()
        assert happened, f"cut {cut} of {total} did not happen"
        fs.ctl("revive")
        try:
            check_recovery(fs.mountpoint, lines)
        except AssertionError as exc:
            raise AssertionError(f"power cut before operation {cut} of {total}: {exc}") from exc
    print(f"\npower cuts simulated: {len(cuts)} (of {total} mutating operations)")
    return len(cuts)


def test_power_cut_filesystem_drops_unsynced_data(powerfs: PowerFS) -> None:
    path = powerfs.mountpoint / "f"
    with open(path, "wb") as f:
        f.write(b"synced")
        f.flush()
        os.fsync(f.fileno())
        f.write(b" and not")
    fd = os.open(powerfs.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
    (powerfs.mountpoint / "g").write_bytes(b"never synced")
    ops, _ = powerfs.state()
    powerfs.ctl(f"cut {ops}")
    with pytest.raises(OSError):
        (powerfs.mountpoint / "h").write_bytes(b"after the cut")
    powerfs.ctl("revive")
    assert path.read_bytes() == b"synced"
    assert sorted(p.name for p in powerfs.mountpoint.iterdir()) == ["f"]


def test_power_cuts_lose_no_stored_finding(powerfs: PowerFS) -> None:
    assert run_cuts(powerfs, rounds=4, limit=25) == 25


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_five_hundred_power_cuts_lose_no_stored_finding(powerfs: PowerFS) -> None:
    assert run_cuts(powerfs, rounds=40, limit=520) >= 500
