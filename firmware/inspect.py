"""`branchwatch inspect CAPTURE [--json] [--live-filter] [--config FILE]`: a capture file
through the pipeline.

Reads a pcap/pcapng file through capture/sniffer.py (the same path live capture takes) into
capture.pipeline.Pipeline and prints the device inventory, then the findings: a table by
default (with a progress bar on stderr for large files when stderr is a terminal), or with
--json one JSON object per line on stdout:

    {"record": "device", "key", "mac", "ips", "names", "vendor", "category", "type", ...}
    {"record": "finding", "kind", "rule_id", "title", "severity", "devices", ...}
    {"record": "stats", "packets", "bytes", "dissected", "dropped", "weird", ...}   (last)

With --live-filter, each Ethernet frame first goes through the kernel BPF filter that live
capture attaches to its socket (capture/bpf.py, run by its interpreter), so the output is what
a sensor on a mirror port would have made of the same traffic; the stats record then gives
`live_filter` = {"passed", "rejected", "not_ethernet"} (frames of another link type are not
filtered: a sensor only ever reads Ethernet).

Devices are sorted by first_seen then key, findings by first_seen, rule_id, dedup key: the
output of one file is the same on every run.

Exit codes: 0 ok; 2 usage; 65 unreadable or corrupt capture (the message gives the byte
offset, and what was read before the damage is still reported); 77 no permission to read it;
69 the live filter cannot be compiled (libpcap missing); 78 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from capture.bpf import CAPTURE_FILTER, LINKTYPE_ETHERNET, compile_bpf, run_program
from capture.device import DeviceRecord
from capture.errors import CaptureError, CaptureFileError
from capture.findings import Finding
from capture.pipeline import Pipeline, Stats
from capture.sniffer import CaptureReader
from firmware.cli import EX_CONFIG, EX_DATAERR, EX_NOPERM, EX_OK, EX_UNAVAILABLE
from firmware.config import Config, load_config
from firmware.errors import ConfigError

PROGRESS_MIN_BYTES = 8 * 1024 * 1024  # smaller files finish before a bar is worth drawing
_PROGRESS_EVERY = 4096  # packets between two progress updates


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "inspect",
        help="print the devices and findings of a capture file",
        description="Run a pcap or pcapng file through the capture pipeline and print the "
        "device inventory and findings. Exit codes: 0 ok, 2 usage, 65 unreadable or corrupt "
        "capture, 69 live filter unavailable, 77 no permission, 78 bad configuration.",
    )
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("--json", action="store_true", help="JSON Lines on stdout")
    parser.add_argument(
        "--live-filter",
        action="store_true",
        help="drop the frames the live capture's kernel filter would drop",
    )
    parser.add_argument("--config", metavar="FILE", help="configuration file over the defaults")
    return ["inspect"]


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"branchwatch inspect: {exc}", file=sys.stderr)
        return EX_CONFIG
    live = LiveFilterCount() if args.live_filter else None
    try:
        pipeline, failure = inspect_file(
            args.capture, config, progress=_progress_stream(), live_filter=live
        )
    except CaptureError as exc:  # the live filter could not be compiled
        print(f"branchwatch inspect: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    code = EX_OK
    if failure is not None:
        print(f"branchwatch inspect: {args.capture}: {failure}", file=sys.stderr)
        if _is_permission(failure):
            return EX_NOPERM
        if isinstance(failure.__cause__, OSError) and pipeline.stats.packets == 0:
            return EX_DATAERR  # could not read it at all: nothing to report
        code = EX_DATAERR
    devices = pipeline.devices()
    findings = pipeline.findings()
    stats = pipeline.snapshot()
    if args.json:
        write_json(sys.stdout, devices, findings, stats, live)
    else:
        write_table(sys.stdout, devices, findings, stats)
        if live is not None:
            print(f"live filter: {live.describe()}")
    return code


@dataclass(slots=True)
class LiveFilterCount:
    """What the live capture filter did to a file's frames (`inspect --live-filter`)."""

    passed: int = 0
    rejected: int = 0
    not_ethernet: int = 0

    def to_json(self) -> dict[str, int]:
        return {"passed": self.passed, "rejected": self.rejected, "not_ethernet": self.not_ethernet}

    def describe(self) -> str:
        return (
            f"{self.passed:,} frames passed, {self.rejected:,} rejected, "
            f"{self.not_ethernet:,} not Ethernet (not filtered)"
        )


def inspect_file(
    path: str,
    config: Config,
    *,
    progress: TextIO | None = None,
    live_filter: LiveFilterCount | None = None,
) -> tuple[Pipeline, CaptureFileError | None]:
    """Run every packet of `path` through a new Pipeline.

    With `live_filter`, Ethernet frames the live capture's kernel filter rejects are counted
    there and skipped, as the kernel would have.

    Returns the pipeline (holding what was read) and the CaptureFileError that stopped the
    read, if any: packets before the damage are processed first.

    Raises:
        CaptureError: `live_filter` was asked for and libpcap cannot compile the filter.
    """
    admits = _live_filter(live_filter) if live_filter is not None else None
    pipeline = Pipeline(config)
    reader = CaptureReader(path)
    size = reader.size_bytes
    bar = _Progress(progress, size) if progress is not None and size >= PROGRESS_MIN_BYTES else None
    failure: CaptureFileError | None = None
    process = pipeline.process
    count = 0
    try:
        for packet in reader:
            if admits is not None and not admits(packet.data, packet.linktype):
                continue
            process(packet.data, packet.at, packet.linktype, packet.vlan)
            count += 1
            if bar is not None and count % _PROGRESS_EVERY == 0:
                bar.update(reader.bytes_read, count)
    except CaptureFileError as exc:
        failure = exc
    finally:
        if bar is not None:
            bar.close(reader.bytes_read, count)
    pipeline.finish()
    return pipeline, failure


def _live_filter(count: LiveFilterCount) -> Callable[[bytes, int], bool]:
    """A predicate that runs the live capture filter on a frame and counts the outcome."""
    program = compile_bpf(CAPTURE_FILTER)

    def admits(data: bytes, linktype: int) -> bool:
        if linktype != LINKTYPE_ETHERNET:
            count.not_ethernet += 1
            return True
        if run_program(program, data):
            count.passed += 1
            return True
        count.rejected += 1
        return False

    return admits


def _is_permission(exc: CaptureFileError) -> bool:
    return isinstance(exc.__cause__, PermissionError)


def _progress_stream() -> TextIO | None:
    return sys.stderr if sys.stderr.isatty() else None


class _Progress:
    """A one-line progress bar on a terminal: percent of the file read, packets, rate."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total_bytes: int) -> None:
        self.stream = stream
        self.total = max(total_bytes, 1)
        self.started = time.monotonic()

    def update(self, done_bytes: int, packets: int) -> None:
        fraction = min(done_bytes / self.total, 1.0)
        filled = int(fraction * self.WIDTH)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:6.1%} "
            f"{packets:,} packets {packets / elapsed:,.0f}/s"
        )
        self.stream.flush()

    def close(self, done_bytes: int, packets: int) -> None:
        self.update(done_bytes, packets)
        self.stream.write("\n")
        self.stream.flush()


# --- output -------------------------------------------------------------------------------


def device_record(device: DeviceRecord) -> dict[str, Any]:
    """The `{"record": "device"}` object: the issue's fields, plus the key findings use."""
    return {"record": "device", "key": device.key, **device.to_json()}


def write_json(
    out: TextIO,
    devices: Iterable[DeviceRecord],
    findings: Iterable[Finding],
    stats: Stats,
    live_filter: LiveFilterCount | None = None,
) -> None:
    """JSON Lines: devices, then findings, then one stats record last."""
    for device in devices:
        out.write(json.dumps(device_record(device), sort_keys=False) + "\n")
    for finding in findings:
        out.write(json.dumps({"record": "finding", **finding.to_json()}) + "\n")
    record: dict[str, Any] = {"record": "stats", **stats.to_json()}
    if live_filter is not None:
        record["live_filter"] = live_filter.to_json()
    out.write(json.dumps(record) + "\n")
    out.flush()


def _cell(values: Iterable[str], width: int) -> str:
    text = ",".join(values) or "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def write_table(
    out: TextIO, devices: list[DeviceRecord], findings: list[Finding], stats: Stats
) -> None:
    """Human-readable inventory and findings."""
    columns = ("DEVICE", "ADDRESSES", "NAMES", "VENDOR", "TYPE", "MODEL", "FIRMWARE", "PROTOCOLS")
    rows = []
    for d in devices:
        rows.append(
            (
                d.key + (" (gateway)" if d.is_gateway else ""),
                _cell(sorted(d.ips), 40),
                _cell(sorted(d.names), 30),
                d.value("vendor") or "-",
                d.value("type") or "-",
                d.value("model") or "-",
                d.value("firmware") or "-",
                _cell(sorted(d.protocols), 40),
            )
        )
    out.write(f"{len(devices)} devices\n")
    _write_rows(out, columns, rows)
    out.write(f"\n{len(findings)} findings\n")
    if findings:
        _write_rows(
            out,
            ("SEVERITY", "STATUS", "RULE", "DEVICES", "COUNT", "TITLE"),
            [
                (
                    str(f.severity),
                    str(f.status),
                    f.rule_id,
                    _cell(f.devices, 40),
                    str(f.count),
                    f.title,
                )
                for f in findings
            ],
        )
    s = stats
    out.write(
        f"\n{s.packets} packets, {s.bytes} bytes: {s.dissected} dissected "
        f"({s.scapy_dissected} by scapy), {s.counted} counted, {s.deduplicated} repeats skipped"
    )
    for title, counts in (("weird", s.weird), ("dropped", s.dropped), ("errors", s.errors)):
        if counts:
            out.write(f"; {title}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    out.write("\n")
    out.flush()


def _write_rows(out: TextIO, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    for row in (columns, *rows):
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
