"""Crash safety: SIGKILL at every write / fsync / rename / unlink boundary of the buffer.

A forked child runs a fixed workload (stores one by one and in groups, seals, acks) through
a FileOps that counts every disk operation and kills the process with SIGKILL before or after
operation number N, or in the middle of it (a torn write: half the bytes, or one byte, then
SIGKILL). The child reports on a pipe each finding whose store() had returned ("S n"), and
the findings of each batch before it acks it ("A n ..."). The parent then reopens the buffer
and checks: it opens, nothing reported stored is missing unless it was acked, no finding is
held twice, every sealed batch verifies and chains, and no sequence number is ever reused.

SIGKILL keeps the page cache, so fsync is counted but not executed here (power cuts, where
it matters, are test_powercut.py). CI runs an evenly spread subset of ~200 crash points; the
slow suite runs all of them (the count is printed).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from uplink.batch import Signer, batch_hash, decode_items, item_to_json, parse_envelope
from uplink.buffer import Buffer
from uplink.segment import FileOps
from uplink.testing import finding_number, sample_findings

SIGNER = Signer.from_seed(bytes(range(32)))
OPS = ("write", "pwrite", "fsync", "replace", "unlink", "truncate")


class CrashOps(FileOps):
    """FileOps that SIGKILLs itself at operation `crash_at` (mode before / after / torn)."""

    def __init__(self, crash_at: int = -1, mode: str = "before", torn_bytes: int = 0) -> None:
        super().__init__()
        self.crash_at, self.mode, self.torn_bytes = crash_at, mode, torn_bytes
        self.log: list[str] = []

    def _boundary(self, kind: str) -> bool:
        """Count the op; kill now for mode "before"; True when it must die after/mid-way."""
        index = len(self.log)
        self.log.append(kind)
        if index != self.crash_at:
            return False
        if self.mode == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    def _die(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def write(self, fd: int, data: bytes) -> None:
        if self._boundary("write") and self.mode == "torn":
            os.write(fd, data[: self.torn_bytes or len(data) // 2])
            self._die()
        super().write(fd, data)
        if self.crash_at == len(self.log) - 1:
            self._die()

    def pwrite(self, fd: int, data: bytes, offset: int) -> None:
        if self._boundary("pwrite") and self.mode == "torn":
            os.pwrite(fd, data[: self.torn_bytes or len(data) // 2], offset)
            self._die()
        super().pwrite(fd, data, offset)
        if self.crash_at == len(self.log) - 1:
            self._die()

    def fsync(self, fd: int) -> None:
        self.fsyncs += 1  # SIGKILL keeps the page cache: the sync itself changes nothing here
        if self._boundary("fsync"):
            self._die()

    def replace(self, src: Path, dst: Path) -> None:
        hit = self._boundary("replace")
        super().replace(src, dst)
        if hit:
            self._die()

    def unlink(self, path: Path) -> None:
        hit = self._boundary("unlink")
        super().unlink(path)
        if hit:
            self._die()

    def truncate(self, fd: int, size: int) -> None:
        hit = self._boundary("truncate")
        super().truncate(fd, size)
        if hit:
            self._die()


def workload(directory: Path, ops: FileOps, report: int, rounds: int) -> None:
    """The child's work; `report` is a pipe fd for the progress lines."""

    def say(line: str) -> None:
        os.write(report, (line + "\n").encode())

    n = 0
    with Buffer(directory, SIGNER, sensor_id="pi-1", epoch=9, seal_items=8, ops=ops) as b:
        for r in range(rounds):
            for item in sample_findings(3, start=n):
                b.store(item)
                say(f"S {finding_number(item_to_json(item))}")
            n += 3
            group = sample_findings(4, start=n)
            b.store_many(group)
            say("S " + " ".join(str(i) for i in range(n, n + 4)))
            n += 4
            if r % 3 == 2:
                seq = b.seal()
                if seq is not None:
                    say(f"L {seq}")
            sealed = b.sealed()
            if r % 2 == 1 and sealed:
                seq = sealed[0]
                raw = b.read(seq)
                assert raw is not None
                ids = [finding_number(item_to_json(i)) for i in decode_items(parse_envelope(raw))]
                say("A " + " ".join(str(i) for i in ids))
                b.ack(seq)


def run_child(directory: Path, ops: CrashOps, rounds: int) -> tuple[list[str], int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 0
        try:
            os.close(read_fd)
            workload(directory, ops, write_fd, rounds)
            os.write(write_fd, f"T {len(ops.log)} {' '.join(ops.log)}\n".encode())
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks).decode().splitlines(), status


def check_recovery(directory: Path, lines: list[str]) -> None:
    stored: set[int] = set()
    delivered: set[int] = set()
    sealed_seqs: set[int] = set()
    for line in lines:
        tag, *rest = line.split()
        if tag == "S":
            stored.update(int(x) for x in rest)
        elif tag == "A":
            delivered.update(int(x) for x in rest)
        elif tag == "L":
            sealed_seqs.add(int(rest[0]))
    # The parent's own fsyncs are not under test: skip them (CrashOps without a crash point).
    with Buffer(directory, SIGNER, sensor_id="pi-1", epoch=9, seal_items=8, ops=CrashOps()) as b:
        present: list[int] = []
        previous: tuple[int, bytes] | None = None
        for seq in b.sealed():
            raw = b.read(seq)
            assert raw is not None
            env = parse_envelope(raw)
            if previous is not None and previous[0] == seq - 1:
                assert env.header.prev_hash == previous[1], f"chain broken at {seq}"
            previous = (seq, batch_hash(raw))
            present += [_number(item_to_json(i)) for i in decode_items(env)]
            sealed_seqs.add(seq)
        present += [_number(i) for i in b.open_items()]
        assert len(present) == len(set(present)), "a finding is held twice"
        lost = stored - set(present) - delivered
        assert not lost, f"findings lost: {sorted(lost)}"
        b.store_many(sample_findings(1, start=1_000_000))
        b.seal()
        assert max(b.sealed()) > max(sealed_seqs, default=-1), "sequence reused"


def _number(item: dict[str, object]) -> int:
    n = finding_number(item)  # type: ignore[arg-type]
    return -1 if n is None else n


def crash_points(rounds: int, tmp: Path) -> list[tuple[int, str, int]]:
    ops = CrashOps()
    lines, status = run_child(tmp / "count", ops, rounds)
    assert status == 0, lines
    total_line = next(line for line in lines if line.startswith("T "))
    kinds = total_line.split()[2:]
    points: list[tuple[int, str, int]] = []
    for index, kind in enumerate(kinds):
        points += [(index, "before", 0), (index, "after", 0)]
        if kind in ("write", "pwrite"):
            points += [(index, "torn", 0), (index, "torn", 1)]
    return points


def run_points(tmp_path: Path, rounds: int, limit: int | None = None) -> int:
    """Crash at every point of the workload, or at `limit` points spread evenly over it."""
    points = crash_points(rounds, tmp_path)
    count = len(points) if limit is None else min(limit, len(points))
    chosen = [points[i * len(points) // count] for i in range(count)]
    for number, (index, mode, torn) in enumerate(chosen):
        directory = tmp_path / f"p{number}"
        lines, status = run_child(directory, CrashOps(index, mode, torn), rounds)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            f"op {index} {mode}: child did not die by SIGKILL ({status}): {lines[-3:]}"
        )
        try:
            check_recovery(directory, lines)
        except AssertionError as exc:
            raise AssertionError(f"crash at op {index} ({mode}, torn={torn}): {exc}") from exc
    print(f"\ncrash points exercised: {len(chosen)} of {len(points)}")
    return len(chosen)


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """On tmpfs when there is one: SIGKILL keeps the page cache, so the filesystem under it
    does not change the outcome, and ext4 metadata operations made this suite 5x slower."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="bw-crash-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_workload_without_crash_delivers_and_counts_its_operations(tmp_path: Path) -> None:
    points = crash_points(12, tmp_path)
    assert len(points) > 500
    lines, status = run_child(tmp_path / "whole", CrashOps(), 12)
    assert status == 0
    check_recovery(tmp_path / "whole", lines)


def test_sigkill_at_a_spread_of_crash_points_loses_no_stored_finding(tmp_path: Path) -> None:
    assert run_points(tmp_path, 6, limit=200) == 200


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_sigkill_at_every_crash_point_loses_no_stored_finding(tmp_path: Path) -> None:
    assert run_points(tmp_path, 48) >= 2000
