"""`branchwatch status`, `diag` and `leds`: the LED state in words, with counters and advice.

`status` reads the running daemon's status file. `diag` adds what it can check itself
(configuration, identity, capture interface, clock, power, storage) so it also helps when the
daemon is not running. `leds` drives the LEDs from outside the daemon: the fault unit uses it
to show code 8 (crash loop) or F while the sensor is down, and `--test` runs the lamp test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from typing import Any

from firmware.config import Config, load_config
from firmware.errors import ConfigError
from firmware.health import HealthMonitor
from firmware.provision import load_identity
from firmware.statefile import read_status
from hardware.status import ADVICE, Health, State, active_states, resolve

EX_CONFIG = 78
EX_UNAVAILABLE = 69
DEFAULT_CONFIG = "/etc/branchwatch/branchwatch.toml"


def add_parser(sub: Any) -> list[str]:
    for name, text in (
        ("status", "the running sensor's state (as the LEDs show it) and counters"),
        ("diag", "status plus checks of configuration, identity, link, clock, power, storage"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("--config", default=DEFAULT_CONFIG)
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    leds = sub.add_parser("leds", help="drive the status LEDs while the daemon is not running")
    leds.add_argument("--config", default=DEFAULT_CONFIG)
    leds.add_argument("--state", choices=[s.value for s in State], help="code to show")
    leds.add_argument("--from-unit", default="", help="pick F or 8 from this unit's result")
    leds.add_argument("--test", action="store_true", help="lamp test, then exit")
    return ["status", "diag", "leds"]


def _config(path: str) -> tuple[Config | None, str]:
    try:
        return load_config(path), ""
    except ConfigError as exc:
        return None, str(exc)


def run(args: argparse.Namespace) -> int:
    if args.command == "leds":
        return _leds(args)
    config, problem = _config(args.config)
    if config is None:
        print(f"configuration: {problem}", file=sys.stderr)
        return EX_CONFIG
    status, stale = read_status(config.sensor.state_dir)
    report: dict[str, Any] = {"daemon": status, "daemon_problem": stale}
    if args.command == "diag":
        report["checks"] = diagnose(config)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render(report))
    return 0 if status is not None and not stale else EX_UNAVAILABLE


def diagnose(config: Config) -> dict[str, Any]:
    """What `diag` can check without the daemon."""
    identity = load_identity(config.sensor.state_dir)
    monitor = HealthMonitor(config.capture.interface, config.sensor.state_dir)
    health = monitor.sample(Health(provisioned=identity is not None))
    state = resolve(health)
    return {
        "state": str(state),
        "active": [str(s) for s in active_states(health)],
        "provisioned": identity is not None,
        "sensor": f"{identity.site}/{identity.sensor_id}" if identity else None,
        "key_fingerprint": identity.fingerprint if identity else None,
        "capture_interface": config.capture.interface,
        "carrier": health.carrier,
        "clock_synced": health.clock_synced,
        "power_fault": health.power_fault,
        "storage_fault": health.storage_fault,
        "broker": f"{config.uplink.broker_host}:{config.uplink.broker_port}"
        if config.uplink.broker_host
        else None,
    }


def render(report: dict[str, Any]) -> str:
    lines = []
    status = report.get("daemon")
    if status is not None:
        state = State(status["state"]) if status["state"] in State._value2member_map_ else None
        meaning, action = ADVICE[state] if state else (status["state"], "")
        lines.append(f"state {status['state']}: {meaning}")
        if action:
            lines.append(f"  what to do: {action}")
        others = [s for s in status.get("active", []) if s not in (status["state"], "OK")]
        if others:
            lines.append(
                "  also active: " + ", ".join(f"{s} ({ADVICE[State(s)][0]})" for s in others)
            )
        counters = status.get("counters", {})
        for key in (
            "packets",
            "dissected",
            "queue_dropped",
            "kernel_drops",
            "devices",
            "backlog_batches",
            "evicted_batches",
            "inventory_save_failures",
        ):
            if key in counters:
                lines.append(f"  {key}: {counters[key]}")
        if status.get("last_ack_at"):
            lines.append(f"  last ack at: {status['last_ack_at']:.0f}")
        if status.get("inventory_restored"):
            lines.append(f"  devices restored at start: {status['inventory_restored']}")
        if status.get("inventory_saved_at"):
            lines.append(f"  inventory saved at: {status['inventory_saved_at']:.0f}")
    if report.get("daemon_problem"):
        lines.append(f"daemon: {report['daemon_problem']}")
    checks = report.get("checks")
    if checks:
        state = State(checks["state"])
        lines.append(f"checks: state {state.value}: {ADVICE[state][0]} — {ADVICE[state][1]}")
        for key, value in checks.items():
            if key not in ("state",):
                lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _unit_state(unit: str) -> State:
    """F when the unit failed on its configuration or never started; 8 when it crash-looped."""
    try:
        out = subprocess.run(
            ["systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", unit],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return State.FATAL
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if values.get("Result") == "start-limit-hit":
        return State.CRASH_LOOP
    return State.FATAL


def _leds(args: argparse.Namespace) -> int:
    from hardware.leds import LedError, StatusLeds

    config, _ = _config(args.config)  # broken config: default pins still show the fault
    pins = config.leds if config is not None else None
    try:
        leds = StatusLeds(
            pins.green_pin if pins else 17,
            pins.red_pin if pins else 27,
            button_pin=pins.button_pin if pins else 0,
        )
    except LedError as exc:
        print(f"leds: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    stop = threading.Event()
    try:
        if args.test:
            leds.press()
            for _ in range(round(1.0 / 0.05)):
                leds.tick()
                stop.wait(0.05)
            return 0
        state = State(args.state) if args.state else _unit_state(args.from_unit or "branchwatch")
        leds.show(state)
        while not stop.wait(0.05):  # runs until systemd stops the unit
            leds.tick()
    except KeyboardInterrupt:
        return 0
    finally:
        leds.close()
    return 0
