"""Enrolment: trade the single-use token for the sensor's TLS client certificate.

`branchwatch enrol` (and `run`, at start, while an enrolment is pending) sends the request
written by `provision --token` (keys + CSR + token, state_dir/enrol.json) on the enrolment
topic, authenticated by the enrolment identity from the site bundle (keys/enrol.pem,
keys/enrol.key), and stores the certificate of the reply as keys/tls.crt. The private keys
never leave the device; the token is burned by the collector.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from firmware.config import Config, load_config
from firmware.errors import ConfigError
from firmware.provision import Identity, load_identity, write_private
from uplink.publisher import EnrolmentError, MqttSettings, request_enrolment

log = logging.getLogger(__name__)

EX_CONFIG = 78
EX_UNAVAILABLE = 69
EX_NOPERM = 77
DEFAULT_CONFIG = "/etc/branchwatch/branchwatch.toml"


def is_pending(config: Config) -> bool:
    return (Path(config.sensor.state_dir) / "enrol.json").exists()


def enrol(config: Config, identity: Identity, timeout_s: float = 30.0) -> str:
    """Complete a pending enrolment; returns the key id the collector registered.

    Raises:
        EnrolmentError: unreachable broker, no reply, or refused (`refused` set: LED code 4).
    """
    state = Path(config.sensor.state_dir)
    keys = state / "keys"
    request = (state / "enrol.json").read_bytes()
    settings = MqttSettings(
        host=config.uplink.broker_host,
        port=config.uplink.broker_port,
        site=identity.site,
        # The bundle's enrolment identity is `enrol.<sensor id>`: the broker only lets it
        # publish on that pseudo-sensor's enrolment topic (collector/enrol.py).
        sensor_id=f"enrol.{identity.sensor_id}",
        tls=config.uplink.tls,
        ca_file=config.uplink.ca_file,
        cert_file=str(keys / "enrol.pem"),
        key_file=str(keys / "enrol.key"),
    )
    raw = request_enrolment(settings, request, timeout_s)
    try:
        reply = json.loads(raw)
    except ValueError as exc:
        raise EnrolmentError("enrolment reply is not JSON") from exc
    if not isinstance(reply, dict) or reply.get("status") != "enrolled":
        reason = reply.get("reason", "refused") if isinstance(reply, dict) else "refused"
        raise EnrolmentError(f"collector refused the enrolment: {reason}", refused=True)
    certificate = reply.get("certificate")
    if not isinstance(certificate, str) or "BEGIN CERTIFICATE" not in certificate:
        raise EnrolmentError("enrolment reply carries no certificate")
    write_private(keys / "tls.crt", certificate.encode())
    ca = reply.get("ca")
    if isinstance(ca, str) and not (keys / "ca.crt").exists():
        write_private(keys / "ca.crt", ca.encode())
    # Done: the request (with the burned token) and the enrolment identity are not needed.
    for name in ("enrol.json", "keys/enrol.key", "keys/enrol.pem"):
        (state / name).unlink(missing_ok=True)
    key_id = str(reply.get("key_id", identity.key_id))
    log.info("enrolled with the collector (key %s)", key_id)
    return key_id


def add_parser(sub: Any) -> list[str]:
    parser = sub.add_parser("enrol", help="complete a pending token enrolment with the collector")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S")
    return ["enrol"]


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    identity = load_identity(config.sensor.state_dir)
    if identity is None:
        print("enrol: not provisioned (run `branchwatch provision` first)", file=sys.stderr)
        return EX_CONFIG
    if not is_pending(config):
        print("enrol: nothing pending")
        return 0
    try:
        key_id = enrol(config, identity, args.timeout)
    except EnrolmentError as exc:
        print(f"enrol: {exc}", file=sys.stderr)
        return EX_NOPERM if exc.refused else EX_UNAVAILABLE
    print(f"enrolled: {identity.site}/{identity.sensor_id} key {key_id}")
    return 0
