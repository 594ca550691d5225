"""Store and forward against a real Mosquitto: delivery, outages, missing receiver, odd acks."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.broker import Mosquitto, TlsFiles, make_tls_files, require_mosquitto
from tests.uplink.receiver import TestReceiver
from uplink.batch import Command, CommandName, Signer, encode_command, verify_command
from uplink.buffer import Buffer
from uplink.forwarder import Forwarder
from uplink.publisher import LinkState, MqttPublisher, MqttSettings
from uplink.testing import sample_findings

pytestmark = pytest.mark.broker

SIGNER = Signer.from_seed(bytes(range(32)))
EPOCH = 7


class Sensor:
    """Buffer + MqttPublisher + Forwarder, as the daemon wires them, on loopback."""

    def __init__(self, directory: Path, broker: Mosquitto, *, ack_timeout_s: float = 5.0,
                 tls: TlsFiles | None = None, **settings_over: Any) -> None:  # fmt: skip
        self.sensor_id = f"pi-{uuid.uuid4().hex[:8]}"
        self.buffer = Buffer(
            directory, SIGNER, sensor_id=self.sensor_id, epoch=EPOCH, seal_items=10
        )
        settings = MqttSettings(
            host=broker.host,
            port=broker.tls_port if tls else broker.port,
            site="branch-1",
            sensor_id=self.sensor_id,
            tls=tls is not None,
            ca_file=str(tls.ca) if tls else "",
            cert_file=str(tls.client_cert) if tls else "",
            key_file=str(tls.client_key) if tls else "",
            keepalive_s=5,
            retry_min_s=0.05,
            retry_max_s=0.5,
        )
        settings = dataclasses.replace(settings, **settings_over)  # fmt: skip
        self.publisher = MqttPublisher(settings)
        self.forwarder = Forwarder(self.buffer, self.publisher, sensor_id=self.sensor_id,
                                   key_id=SIGNER.key_id, epoch=EPOCH, tick_s=0.05,
                                   ack_timeout_s=ack_timeout_s)  # fmt: skip
        self.changed = threading.Condition()
        on_ack = self.forwarder.on_ack

        def watched_on_ack(payload: bytes) -> None:
            on_ack(payload)
            with self.changed:
                self.changed.notify_all()

        self.forwarder.on_ack = watched_on_ack  # type: ignore[method-assign]

    @property
    def keys(self) -> dict[str, bytes]:
        return {self.sensor_id: SIGNER.public_key_bytes}

    def wait_drained(self, timeout_s: float = 30.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: not self.buffer.sealed(), timeout_s)

    def __enter__(self) -> Sensor:
        self.forwarder.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.forwarder.stop()
        self.buffer.close()


@pytest.fixture
def sensor(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Sensor]:
    with Sensor(tmp_path / "buffer", mosquitto) as s:
        yield s


def test_findings_reach_the_collector_and_leave_the_buffer_after_its_ack(
    sensor: Sensor, mosquitto: Mosquitto
) -> None:
    with TestReceiver(mosquitto.host, mosquitto.port, sensor.keys) as receiver:
        sensor.buffer.store_many(sample_findings(50))
        assert sensor.wait_drained()
        assert sorted(receiver.numbers()) == list(range(50))
        assert len(receiver.numbers()) == 50
        assert not receiver.rejected
        assert sensor.forwarder.status().link is LinkState.CONNECTED


def test_without_a_receiver_nothing_is_deleted(sensor: Sensor, mosquitto: Mosquitto) -> None:
    with TestReceiver(mosquitto.host, mosquitto.port, sensor.keys, ack=False) as silent:
        sensor.buffer.store_many(sample_findings(30))
        assert silent.wait_until(lambda r: r.received >= 3)
        assert sensor.buffer.sealed() == [0, 1, 2]
        assert sensor.forwarder.counters["acked"] == 0


def test_duplicate_and_unknown_acks_are_harmless(sensor: Sensor, mosquitto: Mosquitto) -> None:
    with TestReceiver(mosquitto.host, mosquitto.port, sensor.keys, ack_copies=2,
                      extra_ack_seqs=(999,)) as receiver:  # fmt: skip
        sensor.buffer.store_many(sample_findings(30))
        assert sensor.wait_drained()
        with sensor.changed:
            # per batch: the second copy of its ack, and two copies of an ack for seq 999
            assert sensor.changed.wait_for(
                lambda: sensor.forwarder.counters["ignored_acks"] >= 9, 30.0
            )
        assert sorted(receiver.numbers()) == list(range(30))
        assert sensor.forwarder.counters["acked"] == 3


def test_broker_restart_mid_stream_delivers_every_finding_exactly_once(tmp_path: Path) -> None:
    require_mosquitto()
    with (
        Mosquitto(_mkdir(tmp_path / "broker")) as broker,
        Sensor(tmp_path / "buffer", broker) as sensor,
        TestReceiver(broker.host, broker.port, sensor.keys) as receiver,
    ):
        sensor.buffer.store_many(sample_findings(40))
        assert sensor.wait_drained()
        broker.stop()
        sensor.buffer.store_many(sample_findings(40, start=40))  # buffered while down
        assert sensor.buffer.sealed() == [4, 5, 6, 7]
        broker.start()
        assert sensor.wait_drained(60.0)
        assert receiver.wait_until(lambda r: len(r.numbers()) >= 80)
        assert sorted(receiver.numbers()) == list(range(80))
        assert sensor.publisher.counters["connects"] >= 2


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_delivery_over_tls_with_a_client_certificate(tmp_path: Path) -> None:
    require_mosquitto()
    tls = make_tls_files(_mkdir(tmp_path / "pki"))
    with (
        Mosquitto(_mkdir(tmp_path / "broker"), tls=tls) as broker,
        Sensor(tmp_path / "buffer", broker, tls=tls) as sensor,
        TestReceiver(broker.host, broker.port, sensor.keys) as receiver,
    ):
        sensor.buffer.store_many(sample_findings(20))
        assert sensor.wait_drained()
        assert sorted(receiver.numbers()) == list(range(20))


def test_username_and_password_authenticate_the_sensor(tmp_path: Path) -> None:
    require_mosquitto()
    with (
        Mosquitto(_mkdir(tmp_path / "broker"), password=("sensor", "s3cret")) as broker,
        Sensor(tmp_path / "buffer", broker, port=broker.auth_port, username="sensor",
               password="s3cret") as sensor,
        TestReceiver(broker.host, broker.port, sensor.keys) as receiver,
    ):  # fmt: skip
        sensor.buffer.store_many(sample_findings(10))
        assert sensor.wait_drained()
        assert sorted(receiver.numbers()) == list(range(10))


def test_refused_credentials_show_auth_failed_and_backoff_is_not_reset(tmp_path: Path) -> None:
    require_mosquitto()
    with (
        Mosquitto(_mkdir(tmp_path / "broker"), password=("sensor", "s3cret")) as broker,
        Sensor(tmp_path / "buffer", broker, port=broker.auth_port, username="sensor",
               password="wrong", retry_min_s=0.01, retry_max_s=0.05) as sensor,
    ):  # fmt: skip
        sensor.buffer.store_many(sample_findings(10))
        publisher = sensor.publisher
        assert publisher.wait_for(lambda p: p.counters["connect_failures"] >= 3, 30.0)
        assert publisher.state() is LinkState.AUTH_FAILED
        assert sensor.forwarder.status().link is LinkState.AUTH_FAILED
        # A refused CONNACK is not a success: the backoff keeps growing (each failure is
        # followed by one more backoff step, so 3 failures mean at least 2 steps, not reset).
        assert publisher.backoff.attempt >= 2
        assert publisher.counters["connects"] == 0
        assert sensor.buffer.sealed() == [0]


def status_becomes(broker: Mosquitto, topic_name: str, expected: bytes) -> bool:
    """A fresh subscriber sees `expected` on `topic_name` (retained, or published soon after)."""
    arrived = threading.Event()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=f"probe-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)  # fmt: skip

    def on_message(c: mqtt.Client, userdata: Any, message: Any) -> None:
        if bytes(message.payload) == expected:
            arrived.set()

    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(topic_name, qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        return arrived.wait(10.0)
    finally:
        client.disconnect()
        client.loop_stop()


def test_status_topic_is_online_while_connected_and_offline_after_stop(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sensor = Sensor(tmp_path / "buffer", mosquitto)
    status = f"branchwatch/branch-1/{sensor.sensor_id}/status"
    with sensor:
        assert sensor.publisher.wait_for(lambda p: p.is_connected(), 30.0)
        assert status_becomes(mosquitto, status, b'{"state":"online"}')
    assert status_becomes(mosquitto, status, b'{"state":"offline"}')


def test_commands_topic_frames_reach_the_command_callback(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    received: list[bytes] = []
    arrived = threading.Event()

    def on_command(frame: bytes) -> None:
        received.append(frame)
        arrived.set()

    sensor_id = f"pi-{uuid.uuid4().hex[:8]}"
    collector = Signer.generate()
    frame = encode_command(Command(sensor_id, 1, 0, CommandName.SNAPSHOT), collector)
    publisher = MqttPublisher(
        MqttSettings(host=mosquitto.host, port=mosquitto.port, site="branch-1",
                     sensor_id=sensor_id, tls=False, retry_min_s=0.05, retry_max_s=0.5),
        on_command=on_command,
    )  # fmt: skip
    publisher.start(lambda payload: None, lambda: None)
    try:
        assert publisher.wait_for(lambda p: p.is_connected(), 30.0)
        sender = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        sender.connect(mosquitto.host, mosquitto.port)
        sender.loop_start()
        try:
            # Retained only here: our SUBSCRIBE may still be in flight on the other connection.
            sender.publish(publisher.commands_topic, frame, qos=1, retain=True).wait_for_publish(
                10.0
            )
            assert arrived.wait(10.0)
            sender.publish(publisher.commands_topic, b"", qos=1, retain=True).wait_for_publish(10.0)
        finally:
            sender.disconnect()
            sender.loop_stop()
    finally:
        publisher.stop()
    assert received[0] == frame  # then b"": the test clearing its retained message
    assert (
        verify_command(frame, collector.public_key, sensor_id=sensor_id, last_counter=0).counter
        == 1
    )
