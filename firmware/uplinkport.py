"""UplinkPort: the daemon's store-and-forward, assembled from uplink/ and the configuration.

Buffer (SD card) → Forwarder → MqttPublisher. Without a broker configured the buffer still
keeps everything (the sensor shows W, "uplink down", and the data waits for a broker).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware.config import Config
from firmware.daemon import UplinkHealth
from firmware.errors import FirmwareError
from firmware.provision import Identity, write_private
from uplink.batch import Command, Signer, verify_command
from uplink.buffer import Buffer
from uplink.errors import BufferStoreError, WireError
from uplink.forwarder import Forwarder
from uplink.publisher import LinkState, MqttPublisher, MqttSettings

log = logging.getLogger(__name__)

COUNTER_FILE = "command_counter.json"


def _read_counter(path: Path) -> int:
    """The highest command counter acted on (replay protection survives restarts)."""
    try:
        value = json.loads(path.read_text())["counter"]
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Fail closed: an unreadable counter would let old commands replay.
        raise UplinkSetupError(f"{path}: unreadable command counter: {exc}") from exc
    if not isinstance(value, int):
        raise UplinkSetupError(f"{path}: command counter is not an integer")
    return value


class UplinkSetupError(FirmwareError, ValueError):
    """A key or password file named in the configuration cannot be used."""


def load_public_key(path: str) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file or a file of the raw 32 bytes."""
    data = Path(path).read_bytes()
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise UplinkSetupError(f"{path}: not an Ed25519 public key")
    return key


class UplinkPort:
    """Implements firmware.daemon.Uplink over the real buffer, forwarder and publisher."""

    def __init__(
        self,
        config: Config,
        identity: Identity,
        *,
        clock: Callable[[], float] = time.monotonic,
        clock_synced: Callable[[], bool] = lambda: True,
    ) -> None:
        up = config.uplink
        try:
            signer = Signer.load(up.signing_key_file)
            password = Path(up.password_file).read_text().strip() if up.password_file else ""
            ack_key = load_public_key(up.collector_key_file) if up.collector_key_file else None
        except (OSError, ValueError) as exc:
            raise UplinkSetupError(f"uplink keys: {exc}") from exc
        self.sensor_id = identity.sensor_id
        self.buffer = Buffer(
            up.buffer_dir,
            signer,
            sensor_id=identity.sensor_id,
            epoch=identity.epoch,
            max_bytes=up.buffer_max_bytes,
            seal_items=up.batch_max_items,
            seal_bytes=up.batch_seal_bytes,
            seal_interval_s=up.batch_seal_interval_s,
            clock=clock,
            clock_synced=clock_synced,
        )
        self.publisher: MqttPublisher | None = None
        self.forwarder: Forwarder | None = None
        self._command_key = ack_key
        self._counter_path = Path(config.sensor.state_dir) / COUNTER_FILE
        self._last_counter = _read_counter(self._counter_path)
        self._commands: list[Command] = []
        self.commands_rejected = 0
        if up.broker_host:
            self.publisher = MqttPublisher(
                MqttSettings(
                    host=up.broker_host,
                    port=up.broker_port,
                    site=identity.site,
                    sensor_id=identity.sensor_id,
                    tls=up.tls,
                    ca_file=up.ca_file,
                    cert_file=up.cert_file,
                    key_file=up.key_file,
                    username=up.username,
                    password=password,
                    retry_min_s=up.retry_min_s,
                    retry_max_s=up.retry_max_s,
                    keepalive_s=up.keepalive_s,
                ),
                on_command=self._on_command if ack_key is not None else None,
                prepare=self._enrolled,
            )
            self.forwarder = Forwarder(
                self.buffer,
                self.publisher,
                sensor_id=identity.sensor_id,
                key_id=signer.key_id,
                epoch=identity.epoch,
                window=up.inflight_max,
                ack_timeout_s=up.ack_timeout_s,
                bandwidth_bytes_per_s=up.bandwidth_bytes_per_s,
                ack_key=ack_key,
                clock=clock,
            )
        self._config = config
        self._identity = identity
        self.enrol_failures = 0
        self._enrol_error = ""
        self._storage_fault = False
        self._store_failures = 0
        self._lock = threading.Lock()
        self._started = False

    def _enrolled(self) -> bool:
        """Before each connection attempt: complete a pending enrolment (the publisher's
        thread, with its backoff). A sensor whose first boot found the broker unreachable
        captures and buffers meanwhile, and enrols as soon as the link comes up."""
        from firmware.enrol import enrol, is_pending
        from uplink.publisher import EnrolmentError

        if not is_pending(self._config):
            return True
        try:
            enrol(self._config, self._identity)
        except (EnrolmentError, OSError) as exc:
            self.enrol_failures += 1
            if isinstance(exc, EnrolmentError) and exc.refused and self.publisher is not None:
                self.publisher.auth_failed = True  # LED: the collector refused this sensor
            message = str(exc)
            # Once per distinct reason at WARNING: a link down for days retries all along.
            level = logging.DEBUG if message == self._enrol_error else logging.WARNING
            log.log(level, "enrolment not completed (retrying with backoff): %s", message)
            self._enrol_error = message
            return False
        log.info("enrolment completed")
        return True

    def start(self) -> None:
        if self.forwarder is not None and not self._started:
            self.forwarder.start()
        self._started = True

    def stop(self, timeout_s: float) -> None:
        if self.forwarder is not None and self._started:
            self.forwarder.stop(timeout_s)
        self._started = False
        self.buffer.close()

    def store(self, items: Sequence[Any]) -> None:
        try:
            self.buffer.store_many(items)
        except (BufferStoreError, OSError) as exc:
            with self._lock:
                self._store_failures += 1
                if not self._storage_fault:
                    log.error("buffer: cannot store %d items: %s", len(items), exc)
                self._storage_fault = True
            return
        self._storage_fault = False

    def flush(self) -> None:
        self.buffer.seal()

    def wants_full_inventory(self) -> bool:
        return self.buffer.take_snapshot_request()

    def take_commands(self) -> list[Any]:
        with self._lock:
            commands, self._commands = self._commands, []
        return commands

    def _on_command(self, raw: bytes) -> None:
        """Verify a collector command (signature, this sensor, counter strictly increasing),
        persist the counter, then queue it for the daemon. Rejections are counted."""
        assert self._command_key is not None
        with self._lock:
            try:
                command = verify_command(
                    raw,
                    self._command_key,
                    sensor_id=self.sensor_id,
                    last_counter=self._last_counter,
                )
            except WireError as exc:
                self.commands_rejected += 1
                log.warning("collector command rejected: %s", exc.reason)
                return
            write_private(self._counter_path, json.dumps({"counter": command.counter}).encode())
            self._last_counter = command.counter
            self._commands.append(command)

    def health(self) -> UplinkHealth:
        stats = self.buffer.stats()
        counters: dict[str, int] = {
            "buffer_store_failures": self._store_failures,
            "buffer_quarantined": stats.quarantined,
            "buffer_recoveries": stats.recoveries,
            "buffer_rejected": stats.rejected,
            "evicted_items": stats.evicted_items,
            "commands_rejected": self.commands_rejected,
            "enrol_failures": self.enrol_failures,
        }
        connected = auth_failed = False
        last_ack_at = None
        if self.forwarder is not None:
            status = self.forwarder.status()
            last_ack_at = status.last_ack_at
            connected = status.link in (LinkState.CONNECTED, LinkState.DEGRADED)
            auth_failed = status.link is LinkState.AUTH_FAILED
            counters.update({f"uplink_{k}": v for k, v in status.counters.items()})
        return UplinkHealth(
            connected=connected,
            auth_failed=auth_failed,
            configured=self.forwarder is not None,
            backlog_batches=stats.sealed_batches,
            backlog_items=stats.sealed_items + stats.open_items,
            buffer_fraction=stats.fill_ratio,
            evicting=stats.evicted_batches > 0 and stats.fill_ratio > 0.8,
            evicted_batches=stats.evicted_batches,
            last_ack_at=last_ack_at,
            storage_fault=self._storage_fault,
            counters=counters,
        )
