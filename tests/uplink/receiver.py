"""A minimal collector for tests: verifies with uplink.batch and publishes acks.

It does what DESIGN.md asks of the collector, in memory: verify before parse (verify_batch),
ingest once per (sensor_id, key_id, epoch, seq), ack only after the "commit", ack duplicates
as duplicate, reject what fails verification. The real collector lives in collector/.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from uplink.batch import (
    Ack,
    AckStatus,
    Batch,
    GapItem,
    Signer,
    TopicKind,
    encode_ack,
    item_to_json,
    parse_envelope,
    parse_topic,
    topic,
    verify_batch,
)
from uplink.errors import WireError


class TestReceiver:
    """Subscribes to branchwatch/+/+/batches on a broker; acks on .../acks.

    Args:
        keys: sensor_id -> raw public key.
        ack: False = a silent subscriber (sees batches, never acks: "no receiver").
        ack_copies: publish each ack this many times (duplicate-ack tests).
        extra_ack_seqs: also ack these seqs, which the sensor never sent (unknown acks).
        signer: the collector's key for signed acks (None: unsigned).
    """

    __test__ = False  # not a pytest class

    def __init__(self, host: str, port: int, keys: dict[str, bytes], *, ack: bool = True,
                 ack_copies: int = 1, extra_ack_seqs: tuple[int, ...] = (),
                 signer: Signer | None = None) -> None:  # fmt: skip
        self.host, self.port, self.keys = host, port, keys
        self.ack, self.ack_copies, self.extra_ack_seqs = ack, ack_copies, extra_ack_seqs
        self.signer = signer
        self.lock = threading.Lock()
        self.ingested: dict[tuple[str, str, int, int], Batch] = {}
        self.items: list[dict[str, Any]] = []
        self.received = 0
        self.rejected: dict[str, int] = {}
        self.changed = threading.Condition(self.lock)
        self._subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"test-receiver-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.5)

    def start(self, timeout_s: float = 10.0) -> None:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise RuntimeError("test receiver did not subscribe")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> TestReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_until(
        self, predicate: Callable[[TestReceiver], bool], timeout_s: float = 30.0
    ) -> bool:
        """Block until `predicate(self)` holds (checked on every received batch)."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout_s)

    def numbers(self) -> list[int]:
        return [i["evidence"]["n"] for i in self.items if "evidence" in i]

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:  # fmt: skip
        client.subscribe("branchwatch/+/+/batches", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: Any) -> None:
        site, sensor_id, _ = parse_topic(message.topic)
        raw = bytes(message.payload)
        with self.changed:
            self.received += 1
            status, reason, header = self._ingest(raw, sensor_id)
            self.changed.notify_all()
        if not self.ack or header is None:
            return
        acks = [Ack(sensor_id, header[0], header[1], header[2], status, reason)]
        acks += [Ack(sensor_id, header[0], header[1], s, AckStatus.ACCEPTED)
                 for s in self.extra_ack_seqs]  # fmt: skip
        for a in acks:
            for _ in range(self.ack_copies):
                client.publish(
                    topic(site, sensor_id, TopicKind.ACKS), encode_ack(a, self.signer), qos=1
                )

    def _ingest(
        self, raw: bytes, sensor_id: str
    ) -> tuple[AckStatus, str, tuple[str, int, int] | None]:
        try:
            batch = verify_batch(raw, lambda s, k: self.keys.get(s), expected_sensor=sensor_id)
        except WireError as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            try:
                h = parse_envelope(raw).header
            except WireError:
                return AckStatus.REJECTED, exc.reason, None
            return AckStatus.REJECTED, exc.reason, (h.key_id, h.epoch, h.seq)
        h = batch.header
        key = (h.sensor_id, h.key_id, h.epoch, h.seq)
        ids = (h.key_id, h.epoch, h.seq)
        if key in self.ingested:
            return AckStatus.DUPLICATE, "", ids
        self.ingested[key] = batch
        self.items += [item_to_json(i) for i in batch.items if not isinstance(i, GapItem)]
        return AckStatus.ACCEPTED, "", ids
