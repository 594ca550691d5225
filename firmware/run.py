"""`branchwatch run`: the sensor daemon (systemd starts it; `--pcap` replays a capture).

Exit codes: 0 clean stop, 1 a worker gave up (crash loop), 77 no capture permission
(CAP_NET_RAW), 78 bad configuration, 65 unreadable capture file.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from capture.errors import CapturePermissionError
from firmware.config import Config, load_config
from firmware.daemon import RELOAD, Daemon, UplinkHealth
from firmware.errors import ConfigError
from firmware.provision import ProvisionError, load_identity
from firmware.systemd import Notifier

log = logging.getLogger(__name__)

EX_DATAERR = 65
EX_NOPERM = 77
EX_CONFIG = 78
DEFAULT_CONFIG = "/etc/branchwatch/branchwatch.toml"


class UnprovisionedUplink:
    """Stands in for store-and-forward before provisioning: nothing can be signed yet, so
    items are counted and discarded; the LEDs show code 3."""

    def __init__(self) -> None:
        self.discarded = 0

    def start(self) -> None:
        pass

    def stop(self, timeout_s: float) -> None:
        pass

    def store(self, items: Sequence[Any]) -> None:
        self.discarded += len(items)

    def flush(self) -> None:
        pass

    def health(self) -> UplinkHealth:
        return UplinkHealth(configured=False, counters={"unprovisioned_discarded": self.discarded})

    def take_commands(self) -> list[Any]:
        return []

    def wants_full_inventory(self) -> bool:
        return False


def add_parser(sub: Any) -> list[str]:
    parser = sub.add_parser("run", help="run the sensor daemon")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="operator configuration file")
    parser.add_argument("--pcap", help="replay this capture instead of the live interface")
    parser.add_argument("--realtime", action="store_true", help="replay at capture speed")
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="with --pcap: exit once the capture is consumed and the backlog acknowledged",
    )
    parser.add_argument("--done-timeout", type=float, default=120.0, metavar="S")
    return ["run"]


def _build_uplink(config: Config) -> Any:
    identity = load_identity(config.sensor.state_dir)
    if identity is None or not config.uplink.signing_key_file:
        log.warning("not provisioned: findings are not kept until `branchwatch provision`")
        return UnprovisionedUplink()
    from firmware.enrol import enrol, is_pending
    from firmware.uplinkport import UplinkPort
    from uplink.publisher import EnrolmentError

    if is_pending(config) and config.uplink.broker_host:
        try:
            enrol(config, identity)
        except EnrolmentError as exc:
            # Capture and buffering go on; the uplink cannot authenticate until enrolment
            # succeeds (`branchwatch enrol`, or the next start).
            log.error("enrolment failed: %s", exc)

    return UplinkPort(config, identity)


def _build_leds(config: Config) -> Any:
    if not config.leds.enabled:
        return None
    from hardware.leds import LedError, StatusLeds

    try:
        return StatusLeds(
            config.leds.green_pin, config.leds.red_pin, button_pin=config.leds.button_pin
        )
    except LedError as exc:
        log.warning("status LEDs unavailable: %s", exc)
        return None


def _install_signals(daemon: Daemon) -> None:
    def on_term(signum: int, frame: FrameType | None) -> None:
        daemon.shutdown.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        daemon.reload.set()

    try:
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)
    except ValueError:  # not the main thread (embedded use): the caller sets the events
        log.debug("signal handlers not installed outside the main thread")


def run(args: argparse.Namespace) -> int:
    def load() -> Config:
        return load_config(args.config)

    try:
        config = load()
    except ConfigError as exc:
        for key, value, message in exc.problems:
            print(f"{key}: {message} (got {value!r})", file=sys.stderr)
        return EX_CONFIG
    notifier = Notifier()
    while True:
        try:
            if args.pcap is None:
                from capture.sniffer import probe_capture_permission

                probe_capture_permission(config.capture.interface)
            uplink = _build_uplink(config)
        except CapturePermissionError as exc:
            log.error("%s", exc)
            print(
                f"branchwatch: {exc} (grant CAP_NET_RAW, e.g. AmbientCapabilities=CAP_NET_RAW)",
                file=sys.stderr,
            )
            return EX_NOPERM
        except (ProvisionError, ValueError, OSError) as exc:
            log.error("cannot start: %s", exc)
            print(f"branchwatch: cannot start: {exc}", file=sys.stderr)
            return EX_CONFIG
        daemon = Daemon(
            config,
            uplink,
            pcap=args.pcap,
            realtime=args.realtime,
            exit_when_done=args.exit_when_done,
            done_timeout_s=args.done_timeout,
            leds=_build_leds(config),
            notifier=notifier,
            config_loader=load,
        )
        _install_signals(daemon)
        code = daemon.run()
        if daemon.capture_error is not None:
            print(f"branchwatch: {daemon.capture_error}", file=sys.stderr)
            return EX_DATAERR
        if code != RELOAD or daemon.new_config is None:
            return code
        config = daemon.new_config
        notifier.ready("configuration reloaded")
