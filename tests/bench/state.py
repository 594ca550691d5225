"""Saved-state benchmark: what saving and restoring the inventory and the open findings costs
(firmware/inventoryfile.py, as firmware/daemon.py does it every inventory.save_every_s).

The pipeline reads the generated branch capture (tests/bench/branchpcap.py, 100,000 packets);
then, in the same process, the daemon's save (export_state with the cyclic collector paused,
JSON, gzip, atomic write with fsync) and restore (read, gunzip, JSON, import_state into a
fresh pipeline) run `--state-repeats` times each, on the capture's inventory and on one of
inventory.devices_max (2,000) devices made by copying its devices under new MACs. CPU time is
the process's (time.process_time); the peer in the same run is the CPU the pipeline took to
process the capture, so the save is reported as a fraction of it.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from capture.pipeline import Pipeline
from capture.sniffer import open_capture
from firmware import inventoryfile
from firmware.config import config_from_dict
from firmware.daemon import _cyclic_gc_paused
from firmware.inventoryfile import InventorySaver
from tests.bench.capture import capture_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("state part")
    group.add_argument("--state-packets", type=int, default=100_000)
    group.add_argument("--state-devices", type=int, default=2000)
    group.add_argument("--state-repeats", type=int, default=5)


def _widened(state: dict[str, Any], devices: int) -> dict[str, Any]:
    """`state` with its MAC-keyed devices copied under new MACs up to `devices` records."""
    source = [d for d in state["devices"] if d["mac"] is not None]
    out = []
    for n in range(devices):
        record = copy.deepcopy(source[n % len(source)])
        record["key"] = record["mac"] = (
            f"02:00:5e:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
        )
        out.append(record)
    return {**state, "devices": out}


def _measure(pipeline: Pipeline, repeats: int, work: Path) -> dict[str, Any]:
    assert pipeline.rules is not None
    saver = InventorySaver(work / inventoryfile.FILENAME)
    saves, restores = [], []
    for i in range(repeats):
        saver.loaded({}, None)  # force a write
        start = time.process_time()
        with _cyclic_gc_paused():
            state = pipeline.inventory.export_state()
            rules = pipeline.rules.export_state()
        assert saver.save(state, float(i), rules)
        saves.append(time.process_time() - start)
    for _ in range(repeats):
        fresh = Pipeline(config_from_dict({}))
        assert fresh.rules is not None
        start = time.process_time()
        loaded = inventoryfile.load(saver.path)
        assert loaded is not None and loaded.rules is not None
        with _cyclic_gc_paused():
            fresh.inventory.import_state(loaded.state)
            fresh.rules.import_state(loaded.rules)
        restores.append(time.process_time() - start)
    raw = saver.path.read_bytes()
    return {
        "devices": len(pipeline.inventory),
        "findings": len(pipeline.findings()),
        "file_bytes": len(raw),
        "json_bytes": len(gzip.decompress(raw)),
        "save_cpu_ms_median": round(1000 * statistics.median(saves), 1),
        "restore_cpu_ms_median": round(1000 * statistics.median(restores), 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    packets = 25_000 if args.quick else args.state_packets
    repeats = 2 if args.quick else args.state_repeats
    path, _ = capture_file(args.build_dir, packets, 2026)
    pipeline = Pipeline(config_from_dict({}))
    start = time.process_time()
    for packet in open_capture(path):
        pipeline.process(packet.data, packet.at, packet.linktype, packet.vlan)
    pipeline.finish()
    process_cpu = time.process_time() - start
    with tempfile.TemporaryDirectory(prefix="bw-bench-state-") as tmp:
        bench = _measure(pipeline, repeats, Path(tmp))
        wide = Pipeline(config_from_dict({}))
        assert pipeline.rules is not None and wide.rules is not None
        with _cyclic_gc_paused():
            wide.inventory.import_state(
                _widened(pipeline.inventory.export_state(), args.state_devices)
            )
            wide.rules.import_state(pipeline.rules.export_state())
        at_bound = _measure(wide, repeats, Path(tmp))
    return {
        "packets": packets,
        "pipeline_cpu_s": round(process_cpu, 2),
        "capture_inventory": bench,
        "at_devices_max": at_bound,
        "save_vs_pipeline_cpu": round(bench["save_cpu_ms_median"] / 1000 / process_cpu, 4),
    }
