"""Wire bytes per finding on a veth pair (helper of the uplink bench part; no run()).

Two network namespaces created and deleted here, joined by a veth pair (MTU 1500): the
sensor (Buffer + Forwarder + MqttPublisher, TLS with a client certificate, keepalive at the
default 60 s) on one side; Mosquitto and the test receiver (real verify, acks) on the other.
The sensor stores one realistic finding per second and seals every 120 s; the broker is
restarted once half-way. Bytes are the veth's rx + tx counters (/proc/net/dev in the sensor
namespace: Ethernet, IP, TCP, TLS, MQTT, acks, keepalives, retransmissions, the reconnect).

Roles run as `ip netns exec NS python -m tests.bench.uplink_wire sensor|receiver ...`.
Traffic stays inside the namespaces this module creates (10.77.0.0/30).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SENSOR_IP, CLOUD_IP = "10.77.0.1", "10.77.0.2"
SEED = bytes(range(32))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _veth_bytes(ns: str, dev: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/dev"], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    for line in out.splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == dev:
            fields = rest.split()
            return int(fields[0]) + int(fields[8])
    raise RuntimeError(f"{dev} not in /proc/net/dev of {ns}")


def measure_wire(minutes: float, seal_s: float = 120.0) -> dict[str, Any]:
    """Run the scenario for `minutes` of real time; returns bytes per finding delivered."""
    from tests.broker import Mosquitto, make_tls_files

    tag = str(os.getpid())
    sens, cloud, dev0, dev1 = f"bws{tag}", f"bwc{tag}", f"bwv0{tag}"[:15], f"bwv1{tag}"[:15]
    work = Path(tempfile.mkdtemp(prefix="bw-wire-"))
    _ip("netns", "add", sens)
    _ip("netns", "add", cloud)
    broker: Mosquitto | None = None
    procs: list[subprocess.Popen[str]] = []
    try:
        _ip("link", "add", dev0, "type", "veth", "peer", "name", dev1)
        _ip("link", "set", dev0, "netns", sens)
        _ip("link", "set", dev1, "netns", cloud)
        for ns, dev, addr in ((sens, dev0, SENSOR_IP), (cloud, dev1, CLOUD_IP)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "mtu", "1500", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        (work / "pki").mkdir()
        tls = make_tls_files(work / "pki", server_ip=CLOUD_IP)
        (work / "broker").mkdir()
        broker = Mosquitto(work / "broker", tls=tls, netns=cloud, tls_host=CLOUD_IP)
        broker.start()
        findings = int(minutes * 60)
        role = [sys.executable, "-m", "tests.bench.uplink_wire"]
        repo = Path(__file__).resolve().parents[2]
        receiver = subprocess.Popen(
            ["ip", "netns", "exec", cloud, *role, "receiver", "--port", str(broker.port),
             "--expect", str(findings), "--timeout", str(minutes * 60 + 600)],
            cwd=repo, stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(receiver)
        start_bytes = _veth_bytes(sens, dev0)
        sensor = subprocess.Popen(
            ["ip", "netns", "exec", sens, *role, "sensor", "--port", str(broker.tls_port),
             "--pki", str(work / "pki"), "--dir", str(work / "buffer"),
             "--findings", str(findings), "--seal-s", str(seal_s)],
            cwd=repo, stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(sensor)
        restart = threading.Timer(minutes * 30, broker.restart)
        restart.start()
        sensor_out, _ = sensor.communicate(timeout=minutes * 60 + 900)
        restart.join()
        end_bytes = _veth_bytes(sens, dev0)
        receiver_out, _ = receiver.communicate(timeout=120)
        got = json.loads(receiver_out.strip().splitlines()[-1])
        sent = json.loads(sensor_out.strip().splitlines()[-1])
        wire = end_bytes - start_bytes
        return {"minutes": minutes, "findings_stored": findings, "findings_delivered":
                got["unique"], "duplicates_at_receiver": got["findings"] - got["unique"],
                "wire_bytes": wire, "wire_bytes_per_finding": wire / max(got["unique"], 1),
                "broker_restarts": 1, "sensor": sent}  # fmt: skip
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if broker is not None:
            broker.stop()
        subprocess.run(["ip", "netns", "del", sens], check=False)
        subprocess.run(["ip", "netns", "del", cloud], check=False)


def _sensor(args: argparse.Namespace) -> None:
    from uplink.batch import Signer
    from uplink.buffer import Buffer
    from uplink.forwarder import Forwarder
    from uplink.publisher import MqttPublisher, MqttSettings
    from uplink.testing import sample_findings

    signer = Signer.from_seed(SEED)
    pki = Path(args.pki)
    buffer = Buffer(args.dir, signer, sensor_id="pi-wire", epoch=1, seal_interval_s=args.seal_s)
    publisher = MqttPublisher(MqttSettings(
        host=CLOUD_IP, port=args.port, site="site-wire", sensor_id="pi-wire", tls=True,
        ca_file=str(pki / "ca.crt"), cert_file=str(pki / "client.crt"),
        key_file=str(pki / "client.key"), retry_min_s=1.0, retry_max_s=8.0))  # fmt: skip
    forwarder = Forwarder(buffer, publisher, sensor_id="pi-wire", key_id=signer.key_id, epoch=1,
                          tick_s=1.0)  # fmt: skip
    forwarder.start()
    began = time.monotonic()
    for n, item in enumerate(sample_findings(args.findings)):
        time.sleep(max(0.0, began + n - time.monotonic()))  # one finding per second
        buffer.store(item)
    buffer.seal()
    deadline = time.monotonic() + 600
    while buffer.sealed() and time.monotonic() < deadline:
        time.sleep(0.5)
    forwarder.stop()
    print(json.dumps({"left_in_buffer": len(buffer.sealed()), **forwarder.status().counters,
                      **publisher.counters}))  # fmt: skip
    buffer.close()


def _receiver(args: argparse.Namespace) -> None:
    from tests.uplink.receiver import TestReceiver
    from uplink.batch import Signer

    keys = {"pi-wire": Signer.from_seed(SEED).public_key_bytes}
    with TestReceiver("127.0.0.1", args.port, keys) as receiver:
        receiver.wait_until(lambda r: len(set(r.numbers())) >= args.expect, args.timeout)
        numbers = receiver.numbers()
    print(json.dumps({"findings": len(numbers), "unique": len(set(numbers))}))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("sensor")
    for name in ("--port", "--findings"):
        s.add_argument(name, type=int, required=True)
    s.add_argument("--pki", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--seal-s", type=float, default=120.0)
    r = sub.add_parser("receiver")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--expect", type=int, required=True)
    r.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args()
    (_sensor if args.role == "sensor" else _receiver)(args)


if __name__ == "__main__":
    main()
