"""A two-namespace network lab: sensor | veth (MTU 1500) | broker + receiver.

Used by the wire benchmark (tests/bench/uplink.py) and the fault lab (tests/integration/
test_faultlab.py). Everything it creates (namespaces bws<pid>/bwc<pid>, the veth pair, tc and
nftables rules inside the namespaces) is deleted on exit; traffic stays in 10.77.0.0/30.
This kernel has no netem: rate limits use tbf, loss uses nftables `numgen random`, outages
an nftables drop rule.

Roles run as `ip netns exec NS python -m tests.uplink.netlab sensor|receiver ...` and print
one JSON line when done.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

SENSOR_IP, CLOUD_IP = "10.77.0.1", "10.77.0.2"
SEED = bytes(range(32))
REPO = Path(__file__).resolve().parents[2]


def has_netlab_tools() -> bool:
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("ip", "tc", "nft"))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


class NetLab:
    def __init__(self) -> None:
        tag = str(os.getpid())
        self.sensor_ns, self.cloud_ns = f"bws{tag}", f"bwc{tag}"
        self.sensor_dev, self.cloud_dev = f"bwv0{tag}"[:15], f"bwv1{tag}"[:15]
        self.work = Path(tempfile.mkdtemp(prefix="bw-netlab-"))

    def __enter__(self) -> NetLab:
        _ip("netns", "add", self.sensor_ns)
        _ip("netns", "add", self.cloud_ns)
        try:
            _ip("link", "add", self.sensor_dev, "type", "veth", "peer", "name", self.cloud_dev)
            _ip("link", "set", self.sensor_dev, "netns", self.sensor_ns)
            _ip("link", "set", self.cloud_dev, "netns", self.cloud_ns)
            for ns, dev, addr in self._sides():
                _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "mtu", "1500", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        subprocess.run(["ip", "netns", "del", self.sensor_ns], check=False)
        subprocess.run(["ip", "netns", "del", self.cloud_ns], check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def _sides(self) -> list[tuple[str, str, str]]:
        return [(self.sensor_ns, self.sensor_dev, SENSOR_IP),
                (self.cloud_ns, self.cloud_dev, CLOUD_IP)]  # fmt: skip

    def popen(self, ns: str, args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, *args], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip

    def sensor_wire_bytes(self) -> int:
        """rx + tx bytes of the sensor's veth (/proc/net/dev in its namespace)."""
        out = subprocess.run(["ip", "netns", "exec", self.sensor_ns, "cat", "/proc/net/dev"],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        for line in out.splitlines():
            name, _, rest = line.partition(":")
            if name.strip() == self.sensor_dev:
                fields = rest.split()
                return int(fields[0]) + int(fields[8])
        raise RuntimeError(f"{self.sensor_dev} missing from /proc/net/dev")

    def shape(self, rate: str = "64kbit") -> None:
        """tbf rate limit in both directions (egress of each veth end)."""
        for ns, dev, _ in self._sides():
            _ip("netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
                "rate", rate, "burst", "4kb", "latency", "500ms")  # fmt: skip

    def _nft(self, script: str) -> None:
        for ns, _, _ in self._sides():
            subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script,
                           text=True, check=True)  # fmt: skip

    def loss(self, percent: int) -> None:
        """Drop `percent` % of packets leaving each side (nftables numgen; no netem here)."""
        self._nft(
            "table inet bwlab {\n chain out { type filter hook output priority 0;\n"
            f"  numgen random mod 100 < {percent} drop\n }}\n}}\n"
        )

    def outage(self, on: bool) -> None:
        """Drop everything on the veth (a dead WAN) or restore it."""
        if on:
            self._nft("table inet bwcut {\n chain out { type filter hook output priority -10;\n"
                      "  oifname != \"lo\" drop\n }\n}\n")  # fmt: skip
        else:
            self._nft("delete table inet bwcut\n")


def sensor_role(args: argparse.Namespace) -> None:
    from uplink.batch import Signer
    from uplink.buffer import Buffer
    from uplink.forwarder import Forwarder
    from uplink.publisher import MqttPublisher, MqttSettings
    from uplink.testing import sample_findings

    signer = Signer.from_seed(SEED)
    pki = Path(args.pki)
    buffer = Buffer(args.dir, signer, sensor_id="pi-lab", epoch=1, seal_interval_s=args.seal_s)
    publisher = MqttPublisher(MqttSettings(
        host=CLOUD_IP, port=args.port, site="site-lab", sensor_id="pi-lab", tls=True,
        ca_file=str(pki / "ca.crt"), cert_file=str(pki / "client.crt"),
        key_file=str(pki / "client.key"), retry_min_s=1.0, retry_max_s=8.0,
        connect_timeout_s=10.0))  # fmt: skip
    forwarder = Forwarder(buffer, publisher, sensor_id="pi-lab", key_id=signer.key_id, epoch=1,
                          tick_s=1.0, ack_timeout_s=args.ack_timeout_s)  # fmt: skip
    forwarder.start()
    began = time.monotonic()
    for n, item in enumerate(sample_findings(args.findings)):
        time.sleep(max(0.0, began + n / args.rate - time.monotonic()))
        buffer.store(item)
    buffer.seal()
    deadline = time.monotonic() + args.drain_s
    while buffer.sealed() and time.monotonic() < deadline:
        time.sleep(0.5)
    forwarder.stop()
    print(json.dumps({"left_in_buffer": len(buffer.sealed()), **forwarder.status().counters,
                      **publisher.counters}), flush=True)  # fmt: skip
    buffer.close()


def receiver_role(args: argparse.Namespace) -> None:
    from tests.uplink.receiver import TestReceiver
    from uplink.batch import Signer

    keys = {"pi-lab": Signer.from_seed(SEED).public_key_bytes}
    with TestReceiver("127.0.0.1", args.port, keys) as receiver:
        receiver.wait_until(lambda r: len(set(r.numbers())) >= args.expect, args.timeout)
        numbers = receiver.numbers()
        seqs = sorted(k[3] for k in receiver.ingested)
    print(json.dumps({"findings": len(numbers), "unique": len(set(numbers)),
                      "numbers": numbers, "seqs": seqs}), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("sensor")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--findings", type=int, required=True)
    s.add_argument("--rate", type=float, default=1.0, help="findings per second")
    s.add_argument("--pki", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--seal-s", type=float, default=120.0)
    s.add_argument("--ack-timeout-s", type=float, default=60.0)
    s.add_argument("--drain-s", type=float, default=600.0)
    r = sub.add_parser("receiver")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--expect", type=int, required=True)
    r.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args()
    (sensor_role if args.role == "sensor" else receiver_role)(args)


if __name__ == "__main__":
    main()
