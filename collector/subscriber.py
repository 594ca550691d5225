"""Subscriber: MQTT v5 shared subscription → Ingestor → acks (the collector's paho home).

Messages of `$share/<group>/branchwatch/+/+/batches` go into a bounded queue (paho's network
thread blocks when it is full: back-pressure to the broker); the ingest thread takes up to
`batch_max` of them, ingests them in one transaction, and only after the commit publishes
each ack on the sensor's ack topic and sends the broker the MQTT PUBACKs (manual_ack): a
collector that dies before its commit leaves the messages to the broker for redelivery.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from collector.ingest import Ingestor, Received
from uplink.batch import Signer, encode_ack
from uplink.errors import BrokerUnavailableError

log = logging.getLogger(__name__)

BATCH_FILTER = "branchwatch/+/+/batches"
ENROL_FILTER = "branchwatch/+/+/enrol"

# (topic, payload, received_at) -> (reply topic, reply) or None: enrol.Enrolment.handle
EnrolmentHandler = Callable[[str, bytes, float], "tuple[str, bytes] | None"]


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 8883
    group: str = "collectors"
    client_id: str = ""
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    queue_max: int = 2000
    batch_max: int = 200


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float


class Subscriber:
    """One collector instance's MQTT side. start() connects and subscribes; stop() is idempotent."""

    def __init__(
        self,
        ingestor: Ingestor,
        config: BrokerConfig,
        *,
        ack_signer: Signer | None = None,
        enrolment: EnrolmentHandler | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.ingestor = ingestor
        self._enrolment = enrolment
        self.config = config
        self._signer = ack_signer
        self._now = now
        self._queue: queue.Queue[_Message] = queue.Queue(config.queue_max)
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self.acks_published = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if config.ca_file:
            self._client.tls_set(
                ca_certs=config.ca_file,
                certfile=config.cert_file,
                keyfile=config.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if config.username:
            self._client.username_pw_set(config.username, config.password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect

    @property
    def subscription(self) -> str:
        return f"$share/{self.config.group}/{BATCH_FILTER}"

    @property
    def subscriptions(self) -> list[str]:
        subs = [self.subscription]
        if self._enrolment is not None:
            subs.append(f"$share/{self.config.group}/{ENROL_FILTER}")
        return subs

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe and start the ingest thread; raises BrokerUnavailableError."""
        try:
            self._client.connect(self.config.host, self.config.port, self.config.keepalive_s)
        except OSError as exc:
            raise BrokerUnavailableError(f"{self.config.host}:{self.config.port}: {exc}") from exc
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="collector-ingest")
        self._thread.start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise BrokerUnavailableError("no SUBACK from the broker")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        self._client.disconnect()
        self._client.loop_stop()

    def wait_idle(self, timeout_s: float) -> bool:
        """Tests: True once every queued message has been ingested and acked."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            self._stop.wait(0.01)
        return False

    # --- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._connected.set()
        log.info("connected to %s:%d", self.config.host, self.config.port)
        client.subscribe([(s, 1) for s in self.subscriptions])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if all(not rc.is_failure for rc in reason_codes):
            self._subscribed.set()
        else:
            log.error("subscriptions %s refused: %s", self.subscriptions, reason_codes)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        item = _Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._now())
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._connected.is_set() and not self._stop.is_set():
            log.warning("disconnected from the broker: %s", reason_code)
        self._connected.clear()

    # --- ingest thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            group = [first]
            while len(group) < self.config.batch_max:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._process(group)
            except Exception:  # loop boundary: one bad group must not stop ingest
                log.exception("ingest of %d messages failed", len(group))
            finally:
                for _ in group:
                    self._queue.task_done()

    def _process(self, group: list[_Message]) -> None:
        batches = []
        for message in group:
            if message.topic.endswith("/batches") or self._enrolment is None:
                batches.append(message)
                continue
            reply = self._enrolment(message.topic, message.payload, message.received_at)
            if reply is not None:
                self._client.publish(reply[0], reply[1], qos=1)
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)
        group = batches
        outcomes = self.ingestor.handle_many(
            [Received(m.topic, m.payload, m.received_at) for m in group]
        )
        # The transaction has committed: acks may go out, and the broker may forget them.
        for message, outcome in zip(group, outcomes, strict=True):
            if outcome.ack is not None and outcome.ack_topic is not None:
                self._client.publish(
                    outcome.ack_topic, encode_ack(outcome.ack, self._signer), qos=1
                )
                self.acks_published += 1
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)
