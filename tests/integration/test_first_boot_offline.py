"""First boot with the branch link down: the sensor starts, buffers, and enrols when it can.

Found booting the image under QEMU (image-build/boottest.sh): a card provisioned with a valid
bundle whose broker was unreachable at first start never started at all. The enrolment failed
(as it may), then the MQTT client was built with the client certificate that only enrolment
writes, `tls_set` raised FileNotFoundError (naming no file), and `branchwatch run` exited 78,
which the unit does not restart. Now the client is made by the uplink thread before each
connection attempt, after retrying the enrolment with the uplink's backoff.

Real components: the collector's CA and shipped Mosquitto TLS config (tests/collector's
TlsBroker), its enrolment handler and ingest on SQLite, and the sensor provisioned by
firmware.firstboot from a site bundle, run through firmware.run's own uplink assembly.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.enrol import Enrolment, enrol_identity
from collector.ingest import Ingestor
from collector.registry import add_sensor
from collector.store import open_store
from collector.subscriber import BrokerConfig, Subscriber
from firmware.config import load_config
from firmware.firstboot import first_boot
from firmware.run import _build_uplink
from firmware.uplinkport import UplinkPort
from tests.broker import require_mosquitto
from tests.collector.test_broker import TlsBroker
from uplink.testing import sample_findings

pytestmark = pytest.mark.broker

WAIT_S = 60.0
SITE, SENSOR = "branch-31", "pi-late"


def _wait(predicate: object, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_sensor_provisioned_while_the_broker_is_down_starts_then_enrols_and_delivers(
    tmp_path: Path,
) -> None:
    require_mosquitto()
    (tmp_path / "broker").mkdir()
    link = TlsBroker(tmp_path / "broker")  # the collector's broker: not started yet
    store = open_store(str(tmp_path / "collector.db"))
    token = add_sensor(store, SITE, SENSOR, now=time.time())
    assert token is not None
    _, enrol_cert, enrol_key = link.identity(enrol_identity(SENSOR))
    card = tmp_path / "card"
    (card / "boot/firmware").mkdir(parents=True)
    (card / "boot/firmware/site.toml").write_text(
        f'site = "{SITE}"\nsensor_id = "{SENSOR}"\n'
        f'broker = "mqtts://localhost:{link.broker.port}"\ntoken = "{token}"\n'
        f'ca_cert = """{link.ca_file.read_text()}"""\n'
        f'enrol_cert = """{enrol_cert.read_text()}"""\n'
        f'enrol_key = """{enrol_key.read_text()}"""\n'
        'capture_interface = "eth0"\n'
    )
    assert first_boot(card) == "provisioned"
    # The configuration names the device's absolute paths: re-root them under the test card,
    # and retry quickly.
    conf = card / "etc/branchwatch/branchwatch.toml"
    text = conf.read_text().replace("/var/lib/branchwatch", str(card / "var/lib/branchwatch"))
    text = text.replace("[uplink]\n", "[uplink]\nretry_min_s = 0.05\nretry_max_s = 0.5\n", 1)
    conf.write_text(text)
    config = load_config(conf)

    port = _build_uplink(config)  # raised FileNotFoundError before the fix
    assert isinstance(port, UplinkPort)
    port.start()
    try:
        port.store(sample_findings(12))
        port.flush()
        assert _wait(lambda: port.enrol_failures >= 2)  # retried in the background
        health = port.health()
        assert health.configured and not health.connected and health.backlog_items == 12

        link.broker.start()  # the branch link comes up
        ca, cert, key = link.identity("collector.main")
        subscriber = Subscriber(
            Ingestor(store),
            BrokerConfig(host="127.0.0.1", port=link.broker.port, group="g",
                         client_id="collector-1", ca_file=str(ca), cert_file=str(cert),
                         key_file=str(key)),
            enrolment=Enrolment(store, link.ca).handle,
        )  # fmt: skip
        subscriber.start()
        try:
            assert _wait(lambda: port.health().connected), port.health().counters
            assert (card / "var/lib/branchwatch/keys/tls.crt").exists()
            assert not (card / "var/lib/branchwatch/enrol.json").exists()  # token burned
            assert _wait(lambda: port.health().backlog_items == 0), port.health()
        finally:
            subscriber.stop()
    finally:
        port.stop(5.0)
        link.broker.stop()
    with store.transaction() as tx:
        assert tx.fetchone('SELECT "FindingsIngested" FROM "Sensors"') == (12,)
    store.close()
