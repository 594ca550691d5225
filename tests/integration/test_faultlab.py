"""Fault lab: a 64 kbit/s link with 5 % loss, a 60 s outage and a broker restart.

Sensor and broker + receiver sit in two network namespaces joined by a veth pair
(tests/uplink/netlab.py: tbf for the rate, nftables numgen for the loss and a drop rule for the
outage; this kernel has no netem). Every finding must arrive exactly once.
"""

from __future__ import annotations

import json
import threading

import pytest

from tests.broker import Mosquitto, make_tls_files, require_mosquitto
from tests.conftest import require
from tests.uplink.netlab import CLOUD_IP, NetLab, has_netlab_tools

FINDINGS = 240  # 2 per second for two minutes


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.broker
@pytest.mark.timeout(1800)
def test_every_finding_arrives_exactly_once_over_a_slow_lossy_link_with_outage_and_restart() -> (
    None
):
    require(has_netlab_tools(), "needs root, ip, tc and nft (network namespaces)")
    require_mosquitto()
    with NetLab() as lab:
        lab.shape("64kbit")
        lab.loss(5)
        pki, broker_dir = lab.work / "pki", lab.work / "broker"
        pki.mkdir()
        broker_dir.mkdir()
        tls = make_tls_files(pki, server_ip=CLOUD_IP)
        with Mosquitto(broker_dir, tls=tls, netns=lab.cloud_ns, tls_host=CLOUD_IP) as broker:
            receiver = lab.popen(lab.cloud_ns, [
                "-m", "tests.uplink.netlab", "receiver", "--port", str(broker.port),
                "--expect", str(FINDINGS), "--timeout", "1200"])  # fmt: skip
            sensor = lab.popen(lab.sensor_ns, [
                "-m", "tests.uplink.netlab", "sensor", "--port", str(broker.tls_port),
                "--pki", str(pki), "--dir", str(lab.work / "buffer"),
                "--findings", str(FINDINGS), "--rate", "2", "--seal-s", "10",
                "--ack-timeout-s", "30", "--drain-s", "900"])  # fmt: skip
            # The scripted timeline: WAN dead from 20 s to 80 s, broker restart at 100 s.
            timers = [threading.Timer(20.0, lab.outage, (True,)),
                      threading.Timer(80.0, lab.outage, (False,)),
                      threading.Timer(100.0, broker.restart)]  # fmt: skip
            for timer in timers:
                timer.start()
            try:
                sensor_out, _ = sensor.communicate(timeout=1200)
                receiver_out, _ = receiver.communicate(timeout=300)
            finally:
                for timer in timers:
                    timer.cancel()
                    timer.join()
                for proc in (sensor, receiver):
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
    sent = json.loads(sensor_out.strip().splitlines()[-1])
    got = json.loads(receiver_out.strip().splitlines()[-1])
    print(f"\nfault lab: sensor {sent}\nreceiver: {got['findings']} findings, seqs {got['seqs']}")
    assert sent["left_in_buffer"] == 0
    assert sorted(got["numbers"]) == list(range(FINDINGS))  # every finding exactly once
    assert got["seqs"] == list(range(len(got["seqs"])))  # no batch missing
    assert sent["connects"] >= 2  # the broker restart forced a reconnect
