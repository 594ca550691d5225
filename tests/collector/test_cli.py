"""branchwatch-collector through main(argv): sensors, ca, cve import, query, command."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from collector.__main__ import main
from tests.broker import Mosquitto
from uplink.batch import CommandName, Signer, verify_command

NVD = Path(__file__).resolve().parent.parent / "fixtures" / "nvd"


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite:///{tmp_path / 'c.db'}"]


def test_sensors_add_list_rotate_revoke(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*db, "sensors", "add", "branch-1", "pi-1"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40  # 32 random bytes, url-safe base64
    key = Signer.generate()
    b64 = base64.b64encode(key.public_key_bytes).decode()  # as `branchwatch provision` prints it
    assert main([*db, "sensors", "add", "branch-1", "pi-2", "--pubkey", b64]) == 0
    assert (
        main(
            [*db, "sensors", "rotate", "pi-2", "--pubkey", Signer.generate().public_key_bytes.hex()]
        )
        == 0
    )
    assert main([*db, "sensors", "revoke", "pi-1"]) == 0
    capsys.readouterr()
    assert main([*db, "sensors", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["branch-1", "pi-1", "revoked"], ["branch-1", "pi-2", "active"],
    ]  # fmt: skip
    assert key.key_id in lines[1]
    assert main([*db, "sensors", "add", "branch-1", "pi-2"]) == 1  # already registered


def test_ca_init_and_bundle_with_an_enrolment_identity_for_the_sensor(
    db: list[str], tmp_path: Path
) -> None:
    assert main([*db, "ca", "init", str(tmp_path / "ca")]) == 0
    bundle = tmp_path / "bundle"
    assert (
        main(
            [
                *db,
                "sensors",
                "add",
                "branch-1",
                "pi-9",
                "--bundle",
                str(bundle),
                "--ca-dir",
                str(tmp_path / "ca"),
            ]
        )
        == 0
    )
    cert = x509.load_pem_x509_certificate((bundle / "enrol.pem").read_bytes())
    # The enrolment identity is not the sensor: the ACL gives it the enrolment topic only.
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "enrol.pi-9"
    assert (bundle / "token").stat().st_mode & 0o077 == 0
    assert main([*db, "ca", "init", str(tmp_path / "ca")]) == 1  # never overwrites a CA


def test_cve_import_then_query_json(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*db, "cve", "import", str(NVD / "CVE-2021-36260.json")]) == 0
    assert "imported 1 CVE records" in capsys.readouterr().out
    assert main([*db, "query", 'SELECT "CveId", "IsKnownExploited" FROM "Cves"', "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"CveId": "CVE-2021-36260", "IsKnownExploited": 1}
    ]
    assert main([*db, "query", 'DELETE FROM "Cves"']) == 1


@pytest.mark.broker
def test_command_is_signed_with_an_increasing_counter(
    db: list[str], tmp_path: Path, mosquitto: Mosquitto
) -> None:
    collector_key = Signer.generate()
    (tmp_path / "collector.key").write_bytes(collector_key.seed())
    assert (
        main(
            [
                *db,
                "sensors",
                "add",
                "branch-1",
                "pi-1",
                "--pubkey",
                Signer.generate().public_key_bytes.hex(),
            ]
        )
        == 0
    )
    frames: list[bytes] = []
    got = threading.Condition()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *a: subscribed.set()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        with got:
            frames.append(bytes(msg.payload))
            got.notify_all()

    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        client.subscribe("branchwatch/branch-1/pi-1/commands", qos=1)
        assert subscribed.wait(10)
        broker = [
            "--broker",
            f"{mosquitto.host}:{mosquitto.port}",
            "--key",
            str(tmp_path / "collector.key"),
        ]
        assert main([*db, "command", "pi-1", "device-cap", "50", *broker]) == 0
        assert main([*db, "command", "pi-1", "disable", *broker]) == 0
        assert main([*db, "command", "pi-1", "device-cap", *broker]) == 2  # N missing
        with got:
            assert got.wait_for(lambda: len(frames) == 2, 10)
    finally:
        client.disconnect()
        client.loop_stop()
    first = verify_command(frames[0], collector_key.public_key, sensor_id="pi-1", last_counter=0)
    second = verify_command(
        frames[1], collector_key.public_key, sensor_id="pi-1", last_counter=first.counter
    )
    assert (first.name, dict(first.args), second.name) == (
        CommandName.DEVICE_CAP,
        {"max_devices": 50},
        CommandName.DISABLE,
    )
    assert second.counter == first.counter + 1


def test_bad_config_lists_every_problem_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "collector.toml"
    bad.write_text(
        '[collector]\nretention_days = 0\nmax_batch_bytes = "big"\ncolour = 1\n[broker]\nport = 70000\n'
    )
    assert (
        main(["--config", str(bad), "--db", f"sqlite:///{tmp_path / 'c.db'}", "sensors", "list"])
        == 78
    )
    err = capsys.readouterr().err
    for key in (
        "collector.retention_days",
        "collector.max_batch_bytes",
        "collector.colour",
        "broker.port",
    ):
        assert key in err


def test_config_file_sets_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "collector.toml"
    conf.write_text(f'[collector]\ndb = "sqlite:///{tmp_path / "from-config.db"}"\n')
    assert main(["--config", str(conf), "sensors", "add", "branch-1", "pi-1"]) == 0
    assert (tmp_path / "from-config.db").exists()


def test_default_toml_documents_exactly_the_dataclass_defaults() -> None:
    from collector.config import CollectorConfig, load_config

    assert load_config(None) == CollectorConfig()


@pytest.mark.broker
def test_serve_ingests_acks_signed_and_matches_cves_until_stopped(
    db: list[str], tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    from uplink.batch import AckStatus, DeviceUpsert, TopicKind, decode_ack
    from uplink.testing import SensorSimulator

    sim = SensorSimulator("pi-1", "branch-1")
    collector_key = Signer.generate()
    (tmp_path / "ack.key").write_bytes(collector_key.seed())
    assert (
        main([*db, "sensors", "add", "branch-1", "pi-1", "--pubkey", sim.public_key_bytes.hex()])
        == 0
    )
    assert main([*db, "cve", "import", str(NVD / "CVE-2021-36260.json")]) == 0
    stop = threading.Event()
    argv = [
        *db,
        "serve",
        "--broker",
        f"{mosquitto.host}:{mosquitto.port}",
        "--group",
        "cli",
        "--ack-key",
        str(tmp_path / "ack.key"),
    ]
    server = threading.Thread(target=main, args=(argv,), kwargs={"stop": stop}, name="serve")
    acks: list[bytes] = []
    got = threading.Condition()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *a: subscribed.set()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        with got:
            acks.append(bytes(msg.payload))
            got.notify_all()

    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    server.start()
    try:
        client.subscribe(sim.topic(TopicKind.ACKS), qos=1)
        assert subscribed.wait(10)
        camera = DeviceUpsert(
            "44:19:b6:00:00:01",
            1.0,
            {
                "vendor": "Hikvision",
                "model": "DS-2CD2026G2-IU/SL",
                "firmware": "V5.5.0 build 170725",
            },
            True,
        )
        raw = sim.next_batch([camera])
        # The subscriber may not be subscribed yet: re-send (as a sensor does) until acked.
        with got:
            while not acks:
                client.publish(sim.topic(), raw, qos=1)
                got.wait(1.0)
    finally:
        stop.set()
        server.join(30)
        client.disconnect()
        client.loop_stop()
    assert not server.is_alive()
    ack = decode_ack(acks[0], collector_key.public_key)  # signed with the ack key
    assert ack.status in (AckStatus.ACCEPTED, AckStatus.DUPLICATE)
    assert (
        main([*db, "query", 'SELECT "CveId" FROM "DeviceTvmSoftwareVulnerabilities"', "--json"])
        == 0
    )


@pytest.mark.parametrize(
    ("broker_name", "dns", "ips"),
    [
        ("collector.example.net", ["collector.example.net"], ["127.0.0.1"]),
        ("10.0.2.2", [], ["10.0.2.2", "127.0.0.1"]),  # sensors that reach it by address
    ],
)
def test_broker_certificate_names_the_broker_as_tls_checks_it(
    db: list[str], tmp_path: Path, broker_name: str, dns: list[str], ips: list[str]
) -> None:
    assert main([*db, "ca", "init", str(tmp_path / "ca"), "--broker-name", broker_name]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "ca/broker.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == dns
    assert sorted(str(a) for a in san.get_values_for_type(x509.IPAddress)) == ips


def test_an_enrolment_token_never_starts_with_a_dash(
    db: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`branchwatch provision --token <token>` would read a leading '-' as an option."""
    drawn = iter(["-starts-with-a-dash" + "x" * 24, "fine_token" + "y" * 33])
    monkeypatch.setattr("collector.registry.secrets.token_urlsafe", lambda n: next(drawn))
    assert main([*db, "sensors", "add", "branch-1", "pi-1"]) == 0
    assert capsys.readouterr().out.strip() == "fine_token" + "y" * 33
