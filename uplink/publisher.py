"""The MQTT side of the uplink: the Publisher protocol and MqttPublisher (paho-mqtt 2.x).

Input: batch bytes from the forwarder. Output: MQTT v5 QoS 1 publishes on
`branchwatch/<site>/<sensor>/batches`, and the collector's acks from `.../acks` handed back to
the forwarder. A PUBACK only means the broker took the message (DESIGN.md): acceptance is the
collector's ack, which the forwarder waits for.

One thread ("uplink-mqtt") owns the paho client: it connects, runs client.loop(), drains the
queue of publishes and reconnects with exponential backoff and jitter, reset only after a
CONNACK that reports success. paho-mqtt is imported here and nowhere else on the sensor.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from uplink.batch import TopicKind, topic
from uplink.errors import UplinkError

log = logging.getLogger(__name__)

QOS = 1
SESSION_EXPIRY_S = 7 * 86400  # the broker keeps our session (subscriptions, queued acks)
# Retained on .../status: ONLINE after each CONNACK, OFFLINE as the will and on clean stop.
ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'


class LinkState(StrEnum):
    """What the LEDs show about the uplink (DESIGN.md states OK / W / 4)."""

    CONNECTED = "connected"
    DEGRADED = "degraded"  # connected, but acks overdue or publishes failing
    DOWN = "down"
    AUTH_FAILED = "auth_failed"  # the broker refused our credentials: LED state 4


class Publisher(Protocol):
    """What the forwarder needs from a transport (MqttPublisher, testing.FakePublisher)."""

    def start(self, on_ack: Callable[[bytes], None], on_connect: Callable[[], None]) -> None: ...

    def publish(self, payload: bytes) -> bool:
        """Queue one batch; False when not connected (nothing was queued)."""
        ...

    def is_connected(self) -> bool: ...

    def connection_generation(self) -> int:
        """Increments at every successful CONNACK: what was in flight must be re-sent."""
        ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    site: str
    sensor_id: str
    tls: bool = True
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str = ""  # read from uplink.password_file by the daemon, never logged
    keepalive_s: int = 60
    retry_min_s: float = 1.0
    retry_max_s: float = 300.0
    connect_timeout_s: float = 10.0


class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random."""

    def __init__(self, min_s: float, max_s: float, rand: Callable[[], float] = random.random):
        self.min_s, self.max_s, self._rand = min_s, max_s, rand
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.min_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 64)
        return float(delay / 2 + self._rand() * delay / 2)

    def reset(self) -> None:
        self.attempt = 0


class MqttPublisher:
    """MQTT v5, QoS 1, TLS with a client certificate, persistent session, own reconnect loop."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        rand: Callable[[], float] = random.random,
        on_command: Callable[[bytes], None] | None = None,
        prepare: Callable[[], bool] | None = None,
    ) -> None:
        """`on_command` receives the raw frames of .../commands (verify with
        uplink.batch.verify_command before acting); None: not subscribed.

        The MQTT client (and its TLS files) is made by the network thread before the first
        connection attempt, not here: a sensor whose client certificate does not exist yet
        (enrolment pending, broker unreachable at first boot) must still start, capture and
        buffer. `prepare`, called there first, returns False while the uplink is not ready
        (e.g. enrolment still failing): the attempt then counts as a connect failure and
        backs off like one."""
        self.settings = settings
        self.batches_topic = topic(settings.site, settings.sensor_id, TopicKind.BATCHES)
        self.acks_topic = topic(settings.site, settings.sensor_id, TopicKind.ACKS)
        self.status_topic = topic(settings.site, settings.sensor_id, TopicKind.STATUS)
        self.commands_topic = topic(settings.site, settings.sensor_id, TopicKind.COMMANDS)
        self._on_command = on_command
        self._prepare = prepare
        self.backoff = Backoff(settings.retry_min_s, settings.retry_max_s, rand)
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._on_ack: Callable[[bytes], None] = lambda payload: None
        self._on_connect: Callable[[], None] = lambda: None
        self.auth_failed = False
        self.changed = threading.Condition()  # notified on every connection state change
        self.counters = {"connects": 0, "disconnects": 0, "connect_failures": 0,
                         "publish_failures": 0, "published": 0, "acks_received": 0}  # fmt: skip
        self._client: mqtt.Client | None = None
        self.not_ready: str | None = None  # why the client cannot be made yet (None: it can)

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = _new_client(s, f"branchwatch-{s.sensor_id}")
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.will_set(self.status_topic, OFFLINE, qos=QOS, retain=True)  # fmt: skip
        return client

    # --- Publisher protocol -----------------------------------------------------------------

    def start(self, on_ack: Callable[[bytes], None], on_connect: Callable[[], None]) -> None:
        self._on_ack, self._on_connect = on_ack, on_connect
        self._thread = threading.Thread(target=self._run, name="uplink-mqtt", daemon=True)
        self._thread.start()

    def publish(self, payload: bytes) -> bool:
        if not self._connected.is_set():
            return False
        self._queue.put(payload)
        return True

    def is_connected(self) -> bool:
        return self._connected.is_set()

    def connection_generation(self) -> int:
        return self._generation

    def stop(self, timeout_s: float = 5.0) -> None:
        """Idempotent: disconnect cleanly and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait_for(self, predicate: Callable[[MqttPublisher], bool], timeout_s: float) -> bool:
        """Block until `predicate(self)` holds after a connection state change (tests, LEDs)."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout_s)

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def state(self) -> LinkState:
        if self.auth_failed:
            return LinkState.AUTH_FAILED
        return LinkState.CONNECTED if self.is_connected() else LinkState.DOWN

    # --- the network thread -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except Exception:  # loop boundary: log, count, back off, retry
                log.exception("uplink: MQTT session failed")
                self.counters["connect_failures"] += 1
            self._connected.clear()
            if not self._stop.is_set():
                self._stop.wait(self.backoff.next_delay())
        if self._client is not None:
            self._client.disconnect()

    def _ready_client(self) -> mqtt.Client | None:
        """The MQTT client, made on first use; None while `prepare` or the TLS files fail."""
        if self._client is not None:
            return self._client
        reason: str | None = None
        if self._prepare is not None and not self._prepare():
            reason = "not ready (enrolment pending)"
        else:
            try:
                self._client = self._make_client()
            except (OSError, ssl.SSLError) as exc:
                reason = f"TLS files not usable: {exc}"
        if reason is not None:
            if reason != self.not_ready:  # log each new reason once, not every retry
                log.warning("uplink: %s", reason)
            self.not_ready = reason
            self.counters["connect_failures"] += 1
            self._notify()
            return None
        self.not_ready = None
        return self._client

    def _session(self) -> None:
        s = self.settings
        client = self._ready_client()
        if client is None:
            return
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            client.connect(s.host, s.port, keepalive=s.keepalive_s, clean_start=False,
                                 properties=props)  # fmt: skip
        except (OSError, ssl.SSLError) as exc:
            self.counters["connect_failures"] += 1
            log.debug("uplink: cannot reach broker %s:%d: %s", s.host, s.port, exc)
            self._notify()
            return
        while not self._stop.is_set():
            rc = client.loop(timeout=0.05)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
            self._drain(client)
        if self._stop.is_set() and client.is_connected():
            client.publish(self.status_topic, OFFLINE, qos=QOS, retain=True)
            client.disconnect()
            client.loop(timeout=0.1)

    def _drain(self, client: mqtt.Client) -> None:
        while self._connected.is_set():
            try:
                payload = self._queue.get_nowait()
            except queue.Empty:
                return
            info = client.publish(self.batches_topic, payload, qos=QOS, retain=False)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.counters["published"] += 1
            else:
                # The forwarder re-sends after its ack timeout or the next reconnect.
                self.counters["publish_failures"] += 1

    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                        reason: Any, properties: Any) -> None:  # fmt: skip
        if reason.is_failure:
            self.counters["connect_failures"] += 1
            # CONNACK 0x86 bad user name or password, 0x87 not authorized (MQTT v5 §3.2.2.2)
            self.auth_failed = reason.value in (0x86, 0x87, 0x8C)
            log.warning("uplink: broker refused the connection: %s", reason)
            self._notify()
            return
        self.auth_failed = False
        self.backoff.reset()  # only here: after a CONNACK that reports success
        client.subscribe(self.acks_topic, qos=QOS)
        if self._on_command is not None:
            client.subscribe(self.commands_topic, qos=QOS)
        client.publish(self.status_topic, ONLINE, qos=QOS, retain=True)
        while not self._queue.empty():  # stale publishes of the previous session
            self._queue.get_nowait()
        self._generation += 1
        self.counters["connects"] += 1
        self._connected.set()
        log.info("uplink: connected to %s:%d", self.settings.host, self.settings.port)
        self._notify()
        self._on_connect()

    def _handle_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                           reason: Any, properties: Any) -> None:  # fmt: skip
        if self._connected.is_set() and not self._stop.is_set():
            self.counters["disconnects"] += 1
            log.warning("uplink: disconnected from broker: %s", reason)
        self._connected.clear()
        self._notify()

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: Any) -> None:
        if message.topic == self.acks_topic:
            self.counters["acks_received"] += 1
            self._on_ack(bytes(message.payload))
        elif message.topic == self.commands_topic and self._on_command is not None:
            self.counters["commands_received"] = self.counters.get("commands_received", 0) + 1
            self._on_command(bytes(message.payload))


def _new_client(s: MqttSettings, client_id: str) -> mqtt.Client:
    """A paho MQTT v5 client with the TLS identity and credentials of `s`."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    if s.tls:
        # ssl's own FileNotFoundError names no file: say which one is missing.
        for what, path in (("CA", s.ca_file), ("certificate", s.cert_file), ("key", s.key_file)):
            if path and not os.path.exists(path):
                raise FileNotFoundError(errno.ENOENT, f"TLS {what} file not found", path)
        client.tls_set(ca_certs=s.ca_file or None, certfile=s.cert_file or None,
                       keyfile=s.key_file or None, cert_reqs=ssl.CERT_REQUIRED)  # fmt: skip
    if s.username:
        client.username_pw_set(s.username, s.password or None)
    client.connect_timeout = s.connect_timeout_s
    return client


class EnrolmentError(UplinkError, ConnectionError):
    """Enrolment did not complete: broker unreachable, no reply in time, or refused."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def request_enrolment(settings: MqttSettings, request: bytes, timeout_s: float = 30.0) -> bytes:
    """Publish an enrolment request on `branchwatch/<site>/<id>/enrol` with the enrolment
    identity (settings.cert_file/key_file from the site bundle) and return the collector's
    reply from `.../enrol/reply` (JSON, see collector/enrol.py).

    Raises:
        EnrolmentError: the broker is unreachable or refused us, or no reply in `timeout_s`.
    """
    request_topic = topic(settings.site, settings.sensor_id, TopicKind.ENROL)
    reply_topic = request_topic + "/reply"
    reply: list[bytes] = []
    done = threading.Event()
    failure: list[str] = []
    client = _new_client(settings, f"branchwatch-{settings.sensor_id}")

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            failure.append(f"broker refused the enrolment identity: {reason}")
            done.set()
            return
        c.subscribe(reply_topic, qos=QOS)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            failure.append("broker refused the enrolment reply subscription")
            done.set()
            return
        c.publish(request_topic, request, qos=QOS)

    def on_message(c: mqtt.Client, userdata: Any, message: Any) -> None:
        if message.topic == reply_topic:
            reply.append(bytes(message.payload))
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    except (OSError, ssl.SSLError) as exc:
        raise EnrolmentError(f"broker {settings.host}:{settings.port} unreachable: {exc}") from exc
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise EnrolmentError(f"no enrolment reply within {timeout_s:.0f} s")
    finally:
        client.disconnect()
        client.loop_stop()
    if failure:
        raise EnrolmentError(failure[0], refused=True)
    return reply[0]
