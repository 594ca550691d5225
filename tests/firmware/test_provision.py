"""Provisioning: keys generated on the device with mode 0600, idempotent, never printed."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from firmware.config import load_config
from firmware.provision import (
    ProvisionError,
    config_text,
    enrolment_record,
    parse_broker_url,
    provision,
)
from uplink.batch import Signer, key_id_for


def test_provision_writes_private_keys_0600_and_identity(tmp_path: Path) -> None:
    identity = provision(tmp_path, "branch-12", "bw-0001", now=1.0)
    for name in ("keys/signing.key", "keys/tls.key", "keys/tls.csr", "identity.json"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, name
    signer = Signer.load(tmp_path / "keys/signing.key")
    assert identity.key_id == signer.key_id == key_id_for(signer.public_key_bytes)
    assert base64.b64decode(identity.public_key) == signer.public_key_bytes
    csr = x509.load_pem_x509_csr((tmp_path / "keys/tls.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bw-0001"
    assert 0 <= identity.epoch < 2**63


def test_provision_is_idempotent_and_refuses_a_different_identity(tmp_path: Path) -> None:
    first = provision(tmp_path, "branch-12", "bw-0001")
    again = provision(tmp_path, "branch-12", "bw-0001")
    assert again == first  # same keys and epoch after a re-run (power cut during first boot)
    with pytest.raises(ProvisionError, match="already provisioned"):
        provision(tmp_path, "branch-12", "bw-0002")


def test_enrolment_record_carries_no_secret(tmp_path: Path) -> None:
    identity = provision(tmp_path, "branch-12", "bw-0001")
    record = json.dumps(enrolment_record(identity))
    seed = (tmp_path / "keys/signing.key").read_bytes()
    assert base64.b64encode(seed).decode() not in record and seed.hex() not in record
    assert "PRIVATE" not in record


def test_token_writes_pending_enrolment_request(tmp_path: Path) -> None:
    provision(tmp_path, "branch-12", "bw-0001", token="tok-123")
    request = json.loads((tmp_path / "enrol.json").read_text())
    assert request["token"] == "tok-123" and "BEGIN CERTIFICATE REQUEST" in request["csr"]
    assert stat.S_IMODE((tmp_path / "enrol.json").stat().st_mode) == 0o600


def test_written_config_is_valid(tmp_path: Path) -> None:
    identity = provision(tmp_path, "branch-12", "bw-0001")
    path = tmp_path / "branchwatch.toml"
    path.write_text(config_text(identity, tmp_path, "mqtts://collector.example.net:8884"))
    config = load_config(path)
    assert (config.sensor.site, config.sensor.sensor_id) == ("branch-12", "bw-0001")
    assert (config.uplink.broker_host, config.uplink.broker_port) == (
        "collector.example.net",
        8884,
    )
    assert config.uplink.tls


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtts://h.example:8884", ("h.example", 8884, True)),
        ("mqtts://h.example", ("h.example", 8883, True)),
        ("mqtt://127.0.0.1", ("127.0.0.1", 1883, False)),
    ],
)
def test_broker_url(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize("url", ["http://h", "mqtts://", "h:8883", "mqtts://h:99999"])
def test_bad_broker_url_is_refused(url: str) -> None:
    with pytest.raises(ProvisionError):
        parse_broker_url(url)


@pytest.mark.parametrize(("site", "sensor"), [("", "a"), ("a", "b/c"), ("a b", "c")])
def test_bad_names_are_refused(tmp_path: Path, site: str, sensor: str) -> None:
    with pytest.raises(ProvisionError):
        provision(tmp_path, site, sensor)
