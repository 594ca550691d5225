"""Provisioning: the sensor's identity, generated on the device.

`branchwatch provision --site SITE --sensor-id ID --broker mqtts://HOST:PORT [--token T]`
generates the Ed25519 batch-signing key, a random sequence epoch, and a TLS key with a
certificate signing request (files mode 0600, never printed), then writes the operator
configuration. With a token the enrolment request is written for the uplink to send on the
enrolment topic; without one it prints the enrolment record for
`branchwatch-collector sensors add --pubkey`.

State directory layout (the data partition on the appliance):

    keys/signing.key   raw 32-byte Ed25519 seed (0600)
    keys/tls.key       PEM EC P-256 private key for the MQTT client certificate (0600)
    keys/tls.csr       PEM CSR, CN = sensor id, O = site
    keys/tls.crt       the certificate, once enrolment returns it
    keys/ca.crt        the collector's CA (from the site bundle)
    identity.json      site, sensor_id, key_id, epoch, public key, created_at
    enrol.json         pending enrolment request (token, public key, CSR), 0600
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware.errors import FirmwareError
from uplink.batch import Signer, is_valid_name

EX_USAGE = 2


@dataclass(frozen=True, slots=True)
class Identity:
    site: str
    sensor_id: str
    key_id: str
    epoch: int
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    created_at: float

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw public key, colon-separated hex (what an operator compares)."""
        digest = hashlib.sha256(base64.b64decode(self.public_key)).hexdigest()
        return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


class ProvisionError(FirmwareError, ValueError):
    """Provisioning inputs are invalid or the sensor is provisioned differently already."""


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """mqtts://host:port (TLS, default 8883) or mqtt://host:port (plain, default 1883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ProvisionError(f"broker must be mqtts://HOST[:PORT] (got {url!r})")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ProvisionError(f"bad broker port in {url!r}") from exc
    return parts.hostname, port, tls


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file atomically with mode 0600 (temp + fsync + rename + fsync dir)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_identity(state_dir: str | Path) -> Identity | None:
    path = Path(state_dir) / "identity.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProvisionError(f"{path}: unreadable identity: {exc}") from exc
    return Identity(**data)


def provision(
    state_dir: str | Path,
    site: str,
    sensor_id: str,
    *,
    token: str = "",
    now: float | None = None,
) -> Identity:
    """Create the sensor's keys and identity once; idempotent for the same site and id.

    A second run with the same site and sensor id keeps the existing keys (first boot may be
    cut by a power loss and re-run); a different identity is refused (re-flash instead).
    """
    if not is_valid_name(site) or not is_valid_name(sensor_id):
        raise ProvisionError("site and sensor id: letters, digits, '.', '_', '-' (1-64)")
    state = Path(state_dir)
    existing = load_identity(state)
    if existing is not None:
        if (existing.site, existing.sensor_id) != (site, sensor_id):
            raise ProvisionError(
                f"already provisioned as {existing.site}/{existing.sensor_id}; re-flash to change"
            )
        if token:
            _write_enrolment(state, existing, token)
        return existing
    keys = state / "keys"
    signing_path = keys / "signing.key"
    signer = Signer.load(signing_path) if signing_path.exists() else Signer.generate()
    if not signing_path.exists():
        write_private(signing_path, signer.seed())
    tls_path = keys / "tls.key"
    if tls_path.exists():
        tls_key = serialization.load_pem_private_key(tls_path.read_bytes(), password=None)
        assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
    else:
        tls_key = ec.generate_private_key(ec.SECP256R1())
        write_private(
            tls_path,
            tls_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, sensor_id),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, site),
                ]
            )
        )
        .sign(tls_key, hashes.SHA256())
    )
    write_private(keys / "tls.csr", csr.public_bytes(serialization.Encoding.PEM))
    identity = Identity(
        site=site,
        sensor_id=sensor_id,
        key_id=signer.key_id,
        # The sequence is scoped by (sensor, key, epoch): a random 63-bit epoch means a
        # re-flashed sensor never reuses a sequence number under the same scope.
        epoch=secrets.randbits(63),
        public_key=base64.b64encode(signer.public_key_bytes).decode(),
        created_at=time.time() if now is None else now,
    )
    # identity.json is written last: its presence means provisioning completed.
    write_private(state / "identity.json", json.dumps(asdict(identity), indent=2).encode())
    if token:
        _write_enrolment(state, identity, token)
    return identity


def _write_enrolment(state: Path, identity: Identity, token: str) -> None:
    csr = (state / "keys" / "tls.csr").read_text()
    request = {"token": token, "public_key": identity.public_key, "csr": csr}
    write_private(state / "enrol.json", json.dumps(request).encode())


def enrolment_record(identity: Identity) -> dict[str, Any]:
    """What an operator passes to `branchwatch-collector sensors add --pubkey` (no secrets)."""
    return {
        "site": identity.site,
        "sensor_id": identity.sensor_id,
        "key_id": identity.key_id,
        "epoch": identity.epoch,
        "public_key": identity.public_key,
        "fingerprint": identity.fingerprint,
    }


def config_text(
    identity: Identity,
    state_dir: str | Path,
    broker_url: str,
    capture_interface: str = "eth0",
    *,
    with_collector_key: bool = False,
) -> str:
    """The operator configuration (/etc/branchwatch/branchwatch.toml) for this identity."""
    host, port, tls = parse_broker_url(broker_url)
    keys = Path(state_dir) / "keys"

    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    return "\n".join(
        [
            "# Written by `branchwatch provision`; overrides default.toml key by key.",
            "[sensor]",
            f"site = {q(identity.site)}",
            f"sensor_id = {q(identity.sensor_id)}",
            f"state_dir = {q(str(state_dir))}",
            "",
            "[capture]",
            f"interface = {q(capture_interface)}",
            "",
            "[uplink]",
            f"broker_host = {q(host)}",
            f"broker_port = {port}",
            f"tls = {'true' if tls else 'false'}",
            f"ca_file = {q(str(keys / 'ca.crt'))}",
            f"cert_file = {q(str(keys / 'tls.crt'))}",
            f"key_file = {q(str(keys / 'tls.key'))}",
            f"signing_key_file = {q(str(keys / 'signing.key'))}",
            f"collector_key_file = {q(str(keys / 'collector.pub'))}"
            if with_collector_key
            else "# collector_key_file: the collector's public key (acks and commands)",
            f"buffer_dir = {q(str(Path(state_dir) / 'buffer'))}",
            "",
        ]
    )


def add_parser(sub: Any) -> list[str]:
    parser = sub.add_parser("provision", help="generate this sensor's keys and configuration")
    parser.add_argument("--site", required=True)
    parser.add_argument("--sensor-id", required=True)
    parser.add_argument("--broker", required=True, help="mqtts://HOST:PORT")
    parser.add_argument("--token", default="", help="single-use enrolment token")
    parser.add_argument("--state-dir", default="/var/lib/branchwatch")
    parser.add_argument("--config-out", default="/etc/branchwatch/branchwatch.toml")
    parser.add_argument("--capture-interface", default="eth0")
    return ["provision"]


def run(args: argparse.Namespace) -> int:
    try:
        parse_broker_url(args.broker)
        identity = provision(args.state_dir, args.site, args.sensor_id, token=args.token)
    except ProvisionError as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return EX_USAGE
    text = config_text(identity, args.state_dir, args.broker, args.capture_interface)
    out = Path(args.config_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_private(out, text.encode())
    if args.token:
        print(f"provisioned {identity.site}/{identity.sensor_id}; enrolment pending (token)")
    else:
        print("provisioned; register this sensor on the collector with:")
        print(
            f"  branchwatch-collector sensors add {identity.site} {identity.sensor_id}"
            f" --pubkey {identity.public_key}"
        )
        print(json.dumps(enrolment_record(identity), indent=2))
    return 0
