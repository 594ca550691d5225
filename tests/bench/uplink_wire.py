"""Wire bytes per finding on a veth pair (helper of the uplink bench part; no run()).

tests/uplink/netlab.py builds the lab: the sensor (Buffer + Forwarder + MqttPublisher, TLS
with a client certificate, keepalive at the default 60 s) in one namespace; Mosquitto and the
test receiver (real verify, acks) in the other. The sensor stores one realistic finding per
second and seals every 120 s; the broker is restarted once half-way. Bytes are the veth's rx
+ tx counters in the sensor namespace: Ethernet, IP, TCP, TLS, MQTT, acks, keepalives,
retransmissions and the reconnect.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.broker import Mosquitto, make_tls_files
from tests.uplink.netlab import CLOUD_IP, NetLab


def measure_wire(minutes: float, seal_s: float = 120.0) -> dict[str, Any]:
    """Run the scenario for `minutes` of real time; returns bytes per finding delivered."""
    findings = int(minutes * 60)
    with NetLab() as lab:
        (lab.work / "pki").mkdir()
        (lab.work / "broker").mkdir()
        tls = make_tls_files(lab.work / "pki", server_ip=CLOUD_IP)
        with Mosquitto(
            lab.work / "broker", tls=tls, netns=lab.cloud_ns, tls_host=CLOUD_IP
        ) as broker:
            receiver = lab.popen(lab.cloud_ns, [
                "-m", "tests.uplink.netlab", "receiver", "--port", str(broker.port),
                "--expect", str(findings), "--timeout", str(minutes * 60 + 600)])  # fmt: skip
            sensor = None
            try:
                start = lab.sensor_wire_bytes()
                sensor = lab.popen(lab.sensor_ns, [
                    "-m", "tests.uplink.netlab", "sensor", "--port", str(broker.tls_port),
                    "--pki", str(lab.work / "pki"), "--dir", str(lab.work / "buffer"),
                    "--findings", str(findings), "--seal-s", str(seal_s)])  # fmt: skip
                restart = threading.Timer(minutes * 30, broker.restart)
                restart.start()
                sensor_out, _ = sensor.communicate(timeout=minutes * 60 + 900)
                restart.join()
                wire = lab.sensor_wire_bytes() - start
                receiver_out, _ = receiver.communicate(timeout=120)
            finally:
                for proc in (receiver, sensor):
                    if proc is not None and proc.poll() is None:
                        proc.kill()
                        proc.wait()
    got = json.loads(receiver_out.strip().splitlines()[-1])
    sent = json.loads(sensor_out.strip().splitlines()[-1])
    return {"minutes": minutes, "findings_stored": findings, "findings_delivered": got["unique"],
            "duplicate_findings_at_receiver": got["findings"] - got["unique"],
            "wire_bytes": wire, "wire_bytes_per_finding": wire / max(got["unique"], 1),
            "broker_restarts": 1, "sensor": sent}  # fmt: skip
