"""Capture benchmark: `branchwatch inspect --json` against tshark and a bare read, on a
generated ≥ 1,000,000-packet branch-office capture; and, as root, live capture of the same
traffic replayed with tcpreplay over a veth pair.

Offline, each command runs as a child process, three times; its CPU time (user + system)
comes from wait4()'s rusage of that child (the same accounting as getrusage(RUSAGE_CHILDREN)),
its peak RSS from VmHWM in /proc while it runs, and the median CPU time gives packets/s:

- inspect: `branchwatch inspect --json FILE` (the sensor's whole path: reader, triage,
  extractors, inventory, classifier, rules); its last line is the stats record;
- tshark: `tshark -n -r FILE -T fields -e frame.time_epoch -e eth.src -e ip.src -e ip.dst
  -e tcp.dstport -e udp.dstport -e dhcp.option.hostname -e dns.qry.name -e http.user_agent`;
- bare read: capture.sniffer.open_capture over the same file, counting packets (the floor).

Peak RSS of inspect is measured at 250k and 1M packets to show memory does not grow with the
capture. Live (root only): namespaces and a veth pair are created for the run and deleted;
tcpreplay sends the 250k capture at increasing rates; a child process in the capture namespace
runs LiveSource (kernel BPF filter, 8 MiB buffer) → bounded queue → Pipeline, as the daemon
does, and counts the identity packets (those the filter admits, DNS aside) it processed. The
expected count comes from the same compiled filter run over the file by libpcap
(pcap_offline_filter). Reported: the highest rate with < 0.1% identity packets lost.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.branchpcap import HOSTS, discovery_fraction, generate

REPO = Path(__file__).resolve().parent.parent.parent
TSHARK_FIELDS = [
    "frame.time_epoch",
    "eth.src",
    "ip.src",
    "ip.dst",
    "tcp.dstport",
    "udp.dstport",
    "dhcp.option.hostname",
    "dns.qry.name",
    "http.user_agent",
]
BARE_READ = (
    "import sys\n"
    "from capture.sniffer import open_capture\n"
    "n = 0\n"
    "for _ in open_capture(sys.argv[1]):\n"
    "    n += 1\n"
    "print(n)\n"
)
LIVE_RATES_PPS = (10_000, 20_000, 40_000, 80_000, 160_000, 320_000)
LIVE_LOSS_MAX = 0.001


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("capture part")
    group.add_argument("--capture-packets", type=int, default=1_000_000)
    group.add_argument("--capture-small-packets", type=int, default=250_000)
    group.add_argument("--capture-repeats", type=int, default=3)
    group.add_argument("--capture-seed", type=int, default=2026)
    group.add_argument("--capture-no-live", action="store_true", help="skip the live replay")


def capture_file(build_dir: Path, packets: int, seed: int) -> tuple[Path, dict[str, int]]:
    """The generated capture, cached by size and seed (with its per-kind counts)."""
    path = build_dir / f"branch-{packets}-s{seed}.pcap"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    print(f"generating {packets} packets into {path}", file=sys.stderr, flush=True)
    counts = generate(path, packets, seed)
    meta.write_text(json.dumps(counts))
    return path, counts


def measure(argv: list[str], stdout: Any = subprocess.DEVNULL) -> dict[str, float]:
    """Run a child; its CPU seconds (wait4 rusage), peak RSS in MiB and wall seconds.

    Peak RSS is the child's VmHWM polled from /proc while it runs: ru_maxrss would also count
    the pages of this (large) parent, which the kernel records at fork/exec time.
    """
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL, cwd=REPO)
    peak_kib = [0]
    done = threading.Event()
    poller = threading.Thread(target=_poll_hwm, args=(proc.pid, peak_kib, done), name="hwm")
    poller.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    done.set()
    poller.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}")
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_mib": peak_kib[0] / 1024.0,
        "wall_s": wall,
    }


def _poll_hwm(pid: int, peak_kib: list[int], done: threading.Event) -> None:
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib[0] = max(peak_kib[0], int(line.split()[1]))
        except (OSError, ValueError):
            pass
        if done.wait(0.05):
            return


def repeated(argv: list[str], repeats: int, stdout_path: Path | None = None) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        if stdout_path is not None:
            with open(stdout_path, "wb") as out:
                runs.append(measure(argv, out))
        else:
            runs.append(measure(argv))
    cpu = [r["cpu_s"] for r in runs]
    return {
        "cpu_s_median": statistics.median(cpu),
        "cpu_s_runs": [round(c, 3) for c in cpu],
        "max_rss_mib": max(r["max_rss_mib"] for r in runs),
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
    }


def inspect_argv(path: Path) -> list[str]:
    return [sys.executable, "-m", "firmware", "inspect", "--json", str(path)]


def stats_record(jsonl: Path) -> dict[str, Any]:
    """The `{"record": "stats"}` line of inspect --json, and the number of device records."""
    stats: dict[str, Any] = {}
    devices = 0
    with open(jsonl, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if record.get("record") == "stats":
                stats = record
            elif record.get("record") == "device":
                devices += 1
    return {**stats, "device_records": devices}


def run(args: argparse.Namespace) -> dict[str, Any]:
    build: Path = args.build_dir
    repeats = 1 if args.quick else args.capture_repeats
    big_n = 100_000 if args.quick else args.capture_packets
    small_n = 25_000 if args.quick else args.capture_small_packets
    big, counts = capture_file(build, big_n, args.capture_seed)
    small, _ = capture_file(build, small_n, args.capture_seed)
    result: dict[str, Any] = {
        "packets": big_n,
        "file_bytes": big.stat().st_size,
        "hosts": HOSTS,
        "discovery_fraction": round(discovery_fraction(counts), 4),
        "repeats": repeats,
    }
    out_jsonl = build / "inspect-out.jsonl"
    inspect = repeated(inspect_argv(big), repeats, out_jsonl)
    stats = stats_record(out_jsonl)
    bare = repeated([sys.executable, "-c", BARE_READ, str(big)], repeats)
    result["inspect"] = inspect
    result["bare_read"] = bare
    if shutil.which("tshark"):
        fields = [arg for f in TSHARK_FIELDS for arg in ("-e", f)]
        tshark = repeated(["tshark", "-n", "-r", str(big), "-T", "fields", *fields], repeats)
        result["tshark"] = tshark
    else:
        result["tshark"] = None
    for name in ("inspect", "bare_read", "tshark"):
        if result[name]:
            result[name]["pkts_per_s"] = round(big_n / result[name]["cpu_s_median"])
    if result["tshark"]:
        result["inspect_vs_tshark"] = round(
            result["inspect"]["pkts_per_s"] / result["tshark"]["pkts_per_s"], 2
        )
    result["inspect_cpu_vs_bare_read"] = round(inspect["cpu_s_median"] / bare["cpu_s_median"], 2)
    packets = stats.get("packets") or 0
    result["stats_record"] = {k: stats.get(k) for k in ("packets", "dissected", "scapy_dissected", "counted", "deduplicated", "ignored", "device_records")}  # fmt: skip
    if packets:
        result["scapy_dissected_fraction"] = round((stats.get("scapy_dissected") or 0) / packets, 5)
        result["dissected_fraction"] = round((stats.get("dissected") or 0) / packets, 5)
    small_run = repeated(inspect_argv(small), 1, build / "inspect-small.jsonl")
    result["max_rss_mib"] = {
        str(small_n): round(small_run["max_rss_mib"], 1),
        str(big_n): round(inspect["max_rss_mib"], 1),
    }
    if args.capture_no_live:
        result["live"] = "skipped (--capture-no-live)"
    elif os.geteuid() != 0 or not shutil.which("tcpreplay"):
        result["live"] = "skipped (needs root and tcpreplay)"
    else:
        rates = LIVE_RATES_PPS[:3] if args.quick else LIVE_RATES_PPS
        result["live"] = live(small, rates, result["inspect"]["pkts_per_s"])
    return result


# --- live ---------------------------------------------------------------------------------

LIVE_CHILD = r"""
import json, queue, resource, sys, threading, time
from capture.bpf import CAPTURE_FILTER
from capture.pipeline import Pipeline
from capture.sniffer import LiveSource
from firmware.config import load_config
from tests.bench.capture import is_dns

config = load_config()
source = LiveSource(sys.argv[1], CAPTURE_FILTER, config.capture.rcvbuf_bytes,
                    config.capture.snaplen, True, poll_interval_s=0.05)
source.open()
packets = queue.Queue(config.capture.queue_max_packets)
pipeline = Pipeline(config)
state = {"queue_dropped": 0, "last_rx": time.monotonic()}

def sniff():
    for packet in source:
        state["last_rx"] = time.monotonic()
        try:
            packets.put_nowait(packet)
        except queue.Full:
            state["queue_dropped"] += 1
    packets.put(None)

def stopper():
    sys.stdin.readline()  # the parent's tcpreplay has finished
    while time.monotonic() - state["last_rx"] < 0.5:
        time.sleep(0.1)
    source.stop()

threading.Thread(target=sniff, name="sniff").start()
threading.Thread(target=stopper, name="stopper", daemon=True).start()
print("ready", source.rcvbuf_bytes, flush=True)
identity = dns = 0
while (packet := packets.get()) is not None:
    pipeline.process(packet.data, packet.at, packet.linktype, packet.vlan)
    if is_dns(packet.data):
        dns += 1
    else:
        identity += 1
stats = source.stats()
print(json.dumps({"identity": identity, "dns": dns, "received": stats.received,
                  "kernel_drops": stats.kernel_drops, "queue_dropped": state["queue_dropped"],
                  "rcvbuf_bytes": stats.rcvbuf_bytes,
                  "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime}), flush=True)
"""


def is_dns(data: bytes) -> bool:
    """UDP to or from port 53 over untagged IPv4 (the only DNS the generator writes)."""
    if len(data) < 38 or data[12:14] != b"\x08\x00" or data[23] != 17:
        return False
    l4 = 14 + (data[14] & 0x0F) * 4
    return data[l4 : l4 + 2] == b"\x00\x35" or data[l4 + 2 : l4 + 4] == b"\x00\x35"


def expected_identity(path: Path) -> int:
    """Packets of `path` the capture filter admits (libpcap's own matcher), DNS aside."""
    from ctypes.util import find_library

    from scapy.arch.common import compile_filter
    from scapy.libs.winpcapy import pcap_pkthdr

    from capture.bpf import CAPTURE_FILTER
    from capture.sniffer import open_capture

    libpcap = ctypes.CDLL(find_library("pcap"))
    pcap_offline_filter = libpcap.pcap_offline_filter
    pcap_offline_filter.restype = ctypes.c_int
    pcap_offline_filter.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
    program = compile_filter(CAPTURE_FILTER, linktype=1)
    header = pcap_pkthdr()
    count = 0
    for packet in open_capture(path):
        header.caplen = header.len = len(packet.data)
        if pcap_offline_filter(ctypes.byref(program), ctypes.byref(header), packet.data):
            count += 0 if is_dns(packet.data) else 1
    return count


def live(path: Path, rates: tuple[int, ...], offline_pps: int) -> dict[str, Any]:
    from tests.capture.netns import veth_pair

    expected = expected_identity(path)
    steps: list[dict[str, Any]] = []
    best: int | None = None
    with veth_pair() as pair:
        for rate in rates:
            step = live_step(pair, path, rate, expected)
            steps.append(step)
            print(f"live {rate} pps: {step}", file=sys.stderr, flush=True)
            if step["identity_loss"] >= LIVE_LOSS_MAX:
                break
            best = step["achieved_pps"]
    return {
        "replayed_packets": sum(1 for _ in _packets(path)),
        "identity_expected": expected,
        "steps": steps,
        "max_loss_free_pps": best,
        "vs_offline_inspect_pps": round(best / offline_pps, 2) if best else None,
    }


def _packets(path: Path) -> Any:
    from capture.sniffer import open_capture

    return open_capture(path)


def live_step(pair: Any, path: Path, rate: int, expected: int) -> dict[str, Any]:
    child = subprocess.Popen(
        ["ip", "netns", "exec", pair.capture_ns, sys.executable, "-c", LIVE_CHILD, pair.capture_if],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        ready = child.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError(f"live child did not start: {ready!r}")
        replay = subprocess.run(
            ["ip", "netns", "exec", pair.sender_ns, "tcpreplay", "-q", "-K", f"--pps={rate}",
             "-i", pair.sender_if, str(path)],
            capture_output=True, text=True, check=True, timeout=600,
        )  # fmt: skip
        child.stdin.write("stop\n")
        child.stdin.flush()
        out, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    report = json.loads(out.strip().splitlines()[-1])
    match = re.search(
        r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", replay.stdout + replay.stderr
    )
    achieved = round(float(match.group(1))) if match else rate
    lost = max(0, expected - report["identity"])
    return {
        "requested_pps": rate,
        "achieved_pps": achieved,
        "identity_received": report["identity"],
        "identity_loss": round(lost / expected, 5) if expected else 0.0,
        "kernel_drops": report["kernel_drops"],
        "queue_dropped": report["queue_dropped"],
        "rcvbuf_bytes": report["rcvbuf_bytes"],
    }
