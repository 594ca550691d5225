"""The collector against a real Mosquitto: the shipped TLS config and ACL, shared subscriptions.

- A sensor's publish to another sensor's batch topic is refused by the broker (MQTT v5 PUBACK
  reason code ≥ 0x80) and never ingested; its own batch is ingested and acked. The broker runs
  the shipped collector/mosquitto/mosquitto.conf and .acl with certificates from collector.ca.
- Two collector instances on one shared subscription, fed one sensor's batches out of order,
  ingest each exactly once (PostgreSQL, per-sensor row lock) and ack every one.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from collector.ca import CertificateAuthority, cert_pem, key_pem, make_csr
from collector.enrol import Enrolment, enrol_identity, reply_topic
from collector.ingest import Ingestor
from collector.registry import add_sensor
from collector.store import Store, open_store
from collector.subscriber import BrokerConfig, Subscriber
from tests.broker import Mosquitto, require_mosquitto, shipped_config
from tests.collector.conftest import NOW, PG_DSN, drop_schema, make_store
from tests.conftest import require
from uplink.batch import Ack, AckStatus, TopicKind, decode_ack, topic
from uplink.testing import SensorSimulator

pytestmark = pytest.mark.broker
WAIT_S = 30.0


class AckCollector:
    """A paho client that gathers acks from `branchwatch/+/+/acks` (or one topic)."""

    def __init__(self, client: mqtt.Client, topic: str) -> None:
        self.acks: list[Ack] = []
        self._cond = threading.Condition()
        self._topic = topic
        self._subscribed = threading.Event()
        client.on_message = self._on_message
        client.on_subscribe = lambda *a: self._subscribed.set()
        self.client = client

    def subscribe(self) -> None:
        self.client.subscribe(self._topic, qos=1)
        assert self._subscribed.wait(WAIT_S)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.acks.append(decode_ack(bytes(msg.payload)))
            self._cond.notify_all()

    def wait_for(self, count: int) -> list[Ack]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.acks) >= count, WAIT_S), self.acks
            return list(self.acks)


def _client(
    client_id: str, broker: Mosquitto, tls: tuple[Path, Path, Path] | None = None
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if tls is not None:
        ca, cert, key = tls
        client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert connected.wait(WAIT_S)
    return client


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


class TlsBroker:
    """Mosquitto running the shipped config, with test paths, port and certificates."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca = CertificateAuthority.create()
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(cert_pem(self.ca.cert))
        key, cert = self.ca.issue("localhost", server=True)
        (directory / "broker.key").write_bytes(key)
        (directory / "broker.pem").write_bytes(cert)
        self.broker = Mosquitto(directory)
        self.broker.config.write_text(shipped_config(directory, self.broker.port))

    def identity(self, common_name: str) -> tuple[Path, Path, Path]:
        """A client identity enrolled the way a sensor is: own key, CSR, CA-signed cert."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.ca.sign_csr(make_csr("ignored-subject", key), common_name)
        (self.dir / f"{common_name}.key").write_bytes(key_pem(key))
        (self.dir / f"{common_name}.pem").write_bytes(cert)
        return self.ca_file, self.dir / f"{common_name}.pem", self.dir / f"{common_name}.key"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    require_mosquitto()
    broker = TlsBroker(tmp_path)
    broker.broker.start()
    try:
        yield broker
    finally:
        broker.broker.stop()


def test_publish_to_another_sensors_topic_is_refused_by_the_acl_and_never_ingested(
    tls_broker: TlsBroker, tmp_path: Path
) -> None:
    store = open_store(str(tmp_path / "c.db"))
    a = SensorSimulator("pi-a", "branch-1", created_at_ms=int(NOW * 1000))
    b = SensorSimulator("pi-b", "branch-1", created_at_ms=int(NOW * 1000))
    for sim in (a, b):
        add_sensor(store, sim.site, sim.sensor_id, now=NOW, public_key=sim.public_key_bytes)
    ca, cert, key = tls_broker.identity("collector.main")
    sub = Subscriber(
        Ingestor(store),
        BrokerConfig(host="127.0.0.1", port=tls_broker.broker.port, group="g", client_id="collector-1",
                     ca_file=str(ca), cert_file=str(cert), key_file=str(key)),
    )  # fmt: skip
    sub.start()
    sensor = _client("pi-a", tls_broker.broker, tls_broker.identity("pi-a"))
    acks = AckCollector(sensor, a.topic(TopicKind.ACKS))
    results: dict[int, Any] = {}
    published = threading.Condition()

    def on_publish(client: mqtt.Client, userdata: object, mid: int, rc: Any, props: Any) -> None:
        with published:
            results[mid] = rc
            published.notify_all()

    sensor.on_publish = on_publish
    try:
        acks.subscribe()
        # A batch signed by B's key would be needed to forge B; A does not even get to try:
        forged = b.next_batch(findings=2)
        info = sensor.publish(b.topic(), forged, qos=1)
        own = sensor.publish(a.topic(), a.next_batch(findings=2), qos=1)
        with published:
            assert published.wait_for(lambda: {info.mid, own.mid} <= set(results), WAIT_S)
        assert results[info.mid].value >= 0x80  # 0x87 Not authorized
        assert results[own.mid].value < 0x80
        (ack,) = acks.wait_for(1)
        assert (ack.sensor_id, ack.status) == ("pi-a", AckStatus.ACCEPTED)
        assert sub.wait_idle(WAIT_S)
    finally:
        _close(sensor)
        sub.stop()
    with store.transaction() as tx:
        assert tx.fetchall('SELECT "SensorId", "BatchSeq" FROM "Batches"') == [("pi-a", 0)]
    store.close()


def test_two_instances_share_the_subscription_and_ingest_reordered_batches_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    require(PG_DSN is not None, "BRANCHWATCH_PG_DSN not set (two instances need PostgreSQL)")
    first, schema = make_store("postgres", tmp_path)
    second = open_store(PG_DSN or "", schema=schema)
    stores: list[Store] = [first, second]
    sim = SensorSimulator("pi-0001", "branch-1", created_at_ms=int(NOW * 1000))
    add_sensor(first, sim.site, sim.sensor_id, now=NOW, public_key=sim.public_key_bytes)
    batches = [sim.next_batch(findings=3) for _ in range(40)]
    order = list(range(40))
    random.Random(4).shuffle(order)
    subs = [
        Subscriber(Ingestor(s), BrokerConfig(host=mosquitto.host, port=mosquitto.port, group="pair",
                                             client_id=f"collector-{i}", batch_max=4))
        for i, s in enumerate(stores)
    ]  # fmt: skip
    watcher = _client("watcher", mosquitto)
    acks = AckCollector(watcher, "branchwatch/+/+/acks")
    sensor = _client("pi-0001", mosquitto)
    try:
        for s in subs:
            s.start()
        acks.subscribe()
        for i in order:
            sensor.publish(sim.topic(), batches[i], qos=1)
        sensor.publish(sim.topic(), batches[order[0]], qos=1)  # an identical re-send
        got = acks.wait_for(41)
        for s in subs:
            assert s.wait_idle(WAIT_S)
    finally:
        _close(sensor)
        _close(watcher)
        for s in subs:
            s.stop()
    statuses = sorted((a.seq, a.status.value) for a in got)
    assert [s for s in statuses if s[1] == "accepted"] == [(n, "accepted") for n in range(40)]
    assert [s for s in statuses if s[1] == "duplicate"] == [(order[0], "duplicate")]
    assert all(s.ingestor.counters.accepted > 0 for s in subs)  # both instances took a share
    with first.transaction() as tx:
        assert tx.fetchone('SELECT COUNT(*) FROM "Batches"') == (40,)
        assert tx.fetchone('SELECT COUNT(*) FROM "SequenceGaps"') == (0,)
        assert tx.fetchone('SELECT "FindingsIngested" FROM "Sensors"') == (120,)
    for s in stores:
        s.close()
    drop_schema(schema)


def test_headless_enrolment_burns_the_token_signs_the_csr_and_the_sensor_then_delivers(
    tls_broker: TlsBroker, tmp_path: Path
) -> None:
    store = open_store(str(tmp_path / "c.db"))
    sim = SensorSimulator("pi-new", "branch-9", created_at_ms=int(NOW * 1000))
    token = add_sensor(store, sim.site, sim.sensor_id, now=NOW)
    assert token is not None
    ca, cert, key = tls_broker.identity("collector.main")
    enrolment = Enrolment(store, tls_broker.ca)
    sub = Subscriber(
        Ingestor(store),
        BrokerConfig(host="127.0.0.1", port=tls_broker.broker.port, group="g", client_id="collector-1",
                     ca_file=str(ca), cert_file=str(cert), key_file=str(key)),
        enrolment=enrolment.handle,
        now=lambda: NOW + 60,
    )  # fmt: skip
    replies: list[dict[str, Any]] = []
    got = threading.Condition()

    def on_reply(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with got:
            replies.append(json.loads(msg.payload))
            got.notify_all()

    tls_key = ec.generate_private_key(ec.SECP256R1())
    request = {
        "token": token,
        "public_key": base64.b64encode(sim.public_key_bytes).decode(),  # as provision writes it
        "csr": make_csr("pi-new", tls_key).decode(),
    }
    sub.start()
    bootstrap = _client(
        "pi-new-enrol", tls_broker.broker, tls_broker.identity(enrol_identity(sim.sensor_id))
    )
    try:
        subscribed = threading.Event()
        bootstrap.on_subscribe = lambda *a: subscribed.set()
        bootstrap.on_message = on_reply
        bootstrap.subscribe(reply_topic(sim.site, sim.sensor_id), qos=1)
        assert subscribed.wait(WAIT_S)
        enrol_topic = topic(sim.site, enrol_identity(sim.sensor_id), TopicKind.ENROL)
        # The enrolment identity cannot publish as the sensor (ACL), only its request.
        outcomes: dict[int, Any] = {}
        done = threading.Condition()

        def on_publish(
            client: mqtt.Client, userdata: object, mid: int, rc: Any, props: Any
        ) -> None:
            with done:
                outcomes[mid] = rc
                done.notify_all()

        bootstrap.on_publish = on_publish
        as_sensor = bootstrap.publish(sim.topic(), sim.next_batch(findings=1), qos=1)
        on_sensor_enrol = bootstrap.publish(sim.topic(TopicKind.ENROL), b"{}", qos=1)
        with done:
            assert done.wait_for(
                lambda: {as_sensor.mid, on_sensor_enrol.mid} <= set(outcomes), WAIT_S
            )
        assert outcomes[as_sensor.mid].value >= 0x80  # 0x87 Not authorized
        assert outcomes[on_sensor_enrol.mid].value >= 0x80
        bootstrap.publish(enrol_topic, json.dumps(request).encode(), qos=1)
        with got:
            assert got.wait_for(lambda: len(replies) == 1, WAIT_S)
        bootstrap.publish(enrol_topic, json.dumps(request).encode(), qos=1)  # token reuse
        with got:
            assert got.wait_for(lambda: len(replies) == 2, WAIT_S)
    finally:
        _close(bootstrap)
    first, second = replies
    assert (first["status"], first["key_id"]) == ("enrolled", sim.key_id)
    assert second["status"] == "refused"
    issued = x509.load_pem_x509_certificate(first["certificate"].encode())
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pi-new"
    # The sensor now connects with its own key and certificate and delivers a batch.
    (tmp_path / "pi-new.crt").write_text(first["certificate"])
    (tmp_path / "pi-new.tls.key").write_bytes(key_pem(tls_key))
    sensor = _client(
        "pi-new", tls_broker.broker, (ca, tmp_path / "pi-new.crt", tmp_path / "pi-new.tls.key")
    )
    acks = AckCollector(sensor, sim.topic(TopicKind.ACKS))
    try:
        acks.subscribe()
        sensor.publish(sim.topic(), sim.next_batch(findings=2), qos=1)
        (ack,) = acks.wait_for(1)
        assert ack.status is AckStatus.ACCEPTED
    finally:
        _close(sensor)
        sub.stop()
        store.close()
