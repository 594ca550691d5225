"""Uplink benchmark part: what the buffer costs the SD card, and how fast it recovers.

1. buffer: with 1k, 10k and 100k findings already buffered, the cost of storing the next
   findings one by one (each store() durable): bytes written to the block device per finding
   (/proc/self/io write_bytes) and fsync calls per finding (counted by the buffer's FileOps).
   Targets (issue 5): <= 8 KiB and <= 1 fsync per finding, flat within +-20%.
2. TinyDB's default JSONStorage on the same disk in the same run, one insert per finding, its
   run time capped (it rewrites the whole file per insert, so it grows quadratically).
3. recovery: open the buffer holding the largest level and reach the first publish
   (FakePublisher) — target <= 3 s with 100k findings.
4. batch bytes per finding on the wire payload (signed batch / findings) at 120 findings per
   batch (1 finding/s, sealed every 120 s);
5. with --uplink-wire-minutes M (root): the whole wire per finding on a veth pair between
   two namespaces, TLS with client certificates, one broker restart (tests/bench/uplink_wire.py).

Refuses to run on tmpfs: page-cache-only writes would make the byte counts meaningless.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from uplink.batch import Signer, item_to_json
from uplink.buffer import Buffer
from uplink.forwarder import Forwarder
from uplink.testing import FakePublisher, SensorSimulator, sample_findings

SIGNER = Signer.from_seed(bytes(range(32)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("uplink part")
    group.add_argument("--uplink-levels", default="1000,10000,100000",
                       help="buffered findings before measuring (comma-separated)")  # fmt: skip
    group.add_argument("--uplink-measure", type=int, default=500, help="stores measured per level")
    group.add_argument("--uplink-tinydb-cap-s", type=float, default=60.0)
    group.add_argument("--uplink-dir", type=Path, default=None, help="default: BUILD_DIR/uplink")
    group.add_argument("--uplink-wire-minutes", type=float, default=0.0,
                       help="run the veth wire scenario this long (issue: 30; needs root)")  # fmt: skip


def filesystem_type(path: Path) -> str:
    """The fstype of the mount holding `path` (/proc/self/mountinfo, longest mount point)."""
    best, fstype = "", "unknown"
    real = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mount = fields[4]
            sep = fields.index("-")
            if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) > len(
                best
            ):
                best, fstype = mount, fields[sep + 1]
    return fstype


def write_bytes() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no write_bytes")


def measure_buffer(directory: Path, level: int, measure: int) -> dict[str, Any]:
    shutil.rmtree(directory, ignore_errors=True)
    with Buffer(directory, SIGNER, sensor_id="pi-bench", epoch=1) as buf:
        for start in range(0, level, 500):  # fill with group commits: one fsync per 500
            buf.store_many(sample_findings(min(500, level - start), start=start))
        os.sync()
        items = sample_findings(measure, start=level)
        fsyncs, written = buf.ops.fsyncs, write_bytes()
        began = time.perf_counter()
        for item in items:
            buf.store(item)
        elapsed = time.perf_counter() - began
        os.sync()
        written = write_bytes() - written
        fsyncs = buf.ops.fsyncs - fsyncs
    assert written > 0, "write_bytes did not move: not a block device?"
    return {"buffered": level, "measured": measure, "bytes_per_finding": written / measure,
            "fsyncs_per_finding": fsyncs / measure, "stores_per_s": measure / elapsed}  # fmt: skip


def measure_recovery(directory: Path, level: int) -> dict[str, Any]:
    began = time.perf_counter()
    with Buffer(directory, SIGNER, sensor_id="pi-bench", epoch=1) as buf:
        opened = time.perf_counter() - began
        publisher = FakePublisher()
        forwarder = Forwarder(buf, publisher, sensor_id="pi-bench", key_id=SIGNER.key_id, epoch=1)
        forwarder.step()
        first_publish = time.perf_counter() - began
        sealed = len(buf.sealed())
    assert publisher.published, "nothing was published"
    return {"buffered": level, "sealed_batches": sealed, "open_s": opened,
            "first_publish_s": first_publish}  # fmt: skip


def measure_tinydb(directory: Path, cap_s: float, limit: int) -> dict[str, Any]:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    calls = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        real_fsync(fd)

    docs = [item_to_json(i) for i in sample_findings(limit)]
    points: list[dict[str, Any]] = []
    os.fsync = counting_fsync  # JSONStorage.write calls os.fsync once per insert
    try:
        with TinyDB(directory / "db.json") as db:
            began = time.perf_counter()
            written, done = write_bytes(), 0
            window_start, window_bytes = 0, written
            for doc in docs:
                db.insert(doc)
                done += 1
                if done in (100, 250, 500, 1000, 2000, 5000, 10000):
                    now_bytes = write_bytes()
                    points.append({"buffered": done,
                                   "bytes_per_finding": (now_bytes - window_bytes) / (done - window_start)})  # fmt: skip
                    window_start, window_bytes = done, now_bytes
                if time.perf_counter() - began > cap_s:
                    break
            elapsed = time.perf_counter() - began
    finally:
        os.fsync = real_fsync
    return {"inserted": done, "seconds": elapsed, "capped_at_s": cap_s,
            "fsyncs_per_finding": calls / max(done, 1), "windows": points}  # fmt: skip


def measure_wire_payload(per_batch: int = 120, batches: int = 20) -> dict[str, Any]:
    sim = SensorSimulator("pi-bench", "site-1")
    total = sum(len(sim.next_batch(findings=per_batch)) for _ in range(batches))
    return {
        "findings_per_batch": per_batch,
        "batch_bytes_per_finding": total / (per_batch * batches),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    base = args.uplink_dir or (args.build_dir / "uplink")
    base.mkdir(parents=True, exist_ok=True)
    fstype = filesystem_type(base)
    if fstype in ("tmpfs", "ramfs"):
        raise SystemExit(f"refusing to benchmark the buffer on {fstype} ({base}): use --uplink-dir")
    levels = [int(x) for x in args.uplink_levels.split(",")]
    measure = args.uplink_measure
    if getattr(args, "quick", False):
        levels, measure = [lvl for lvl in levels if lvl <= 10_000], min(measure, 200)
    out: dict[str, Any] = {"filesystem": fstype, "buffer": [], "seal_items": 500}
    for level in levels:
        out["buffer"].append(measure_buffer(base / "buffer", level, measure))
    out["recovery"] = measure_recovery(base / "buffer", levels[-1] + measure)
    out["tinydb_jsonstorage"] = measure_tinydb(base / "tinydb", args.uplink_tinydb_cap_s, 10_000)
    out["wire_payload"] = measure_wire_payload()
    if args.uplink_wire_minutes > 0:
        from tests.bench.uplink_wire import measure_wire

        out["wire_veth"] = measure_wire(args.uplink_wire_minutes)
    shutil.rmtree(base, ignore_errors=True)
    return out
