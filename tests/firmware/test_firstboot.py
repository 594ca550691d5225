"""First boot from site.toml: provisioned once, network policy written, secrets scrubbed."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from firmware.config import load_config
from firmware.firstboot import BundleError, first_boot, read_bundle, scrub
from firmware.provision import load_identity

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
BUNDLE = f'''
site = "branch-12"
sensor_id = "bw-0001"
broker = "mqtts://collector.example.net:8883"
ca_cert = """{CA}"""
token = "enrol-token-SECRET-123"
enrol_cert = """{CA}"""
enrol_key = """-----BEGIN PRIVATE KEY-----
SECRET-789
-----END PRIVATE KEY-----
"""
collector_key = """-----BEGIN PUBLIC KEY-----
MCow
-----END PUBLIC KEY-----
"""
capture_interface = "eth0"
ntp_servers = ["ntp1.example.net"]

[uplink]
interface = "wlan0"
address = "dhcp"
wifi_ssid = "branch-wifi"
wifi_psk = "wifi-password-SECRET-456"

[leds]
green_pin = 5
red_pin = 6
'''


def lay_out(root: Path, text: str = BUNDLE) -> Path:
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    (boot / "site.toml").write_text(text)
    return boot


def test_first_boot_provisions_and_scrubs_bundle(tmp_path: Path) -> None:
    boot = lay_out(tmp_path)
    assert first_boot(tmp_path) == "provisioned"
    assert not (boot / "site.toml").exists()
    marker = (boot / "PROVISIONED.txt").read_text()
    assert "bw-0001" in marker and "SECRET" not in marker
    identity = load_identity(tmp_path / "var/lib/branchwatch")
    assert identity is not None and identity.sensor_id == "bw-0001"
    config = load_config(tmp_path / "etc/branchwatch/branchwatch.toml")
    assert config.uplink.broker_host == "collector.example.net"
    assert (config.leds.green_pin, config.leds.red_pin) == (5, 6)
    assert config.uplink.ca_file == "/var/lib/branchwatch/keys/ca.crt"
    assert (tmp_path / "var/lib/branchwatch/keys/ca.crt").read_text() == CA
    keys = tmp_path / "var/lib/branchwatch/keys"
    assert (keys / "enrol.pem").read_text() == CA and "SECRET-789" in (
        keys / "enrol.key"
    ).read_text()
    assert stat.S_IMODE((keys / "enrol.key").stat().st_mode) == 0o600
    assert config.uplink.collector_key_file == "/var/lib/branchwatch/keys/collector.pub"
    assert "SECRET" not in (boot / "PROVISIONED.txt").read_text()


def test_capture_interface_gets_no_address_and_no_ipv6(tmp_path: Path) -> None:
    lay_out(tmp_path)
    first_boot(tmp_path)
    net = (tmp_path / "etc/systemd/network/10-capture-eth0.network").read_text()
    for line in (
        "DHCP=no",
        "LinkLocalAddressing=no",
        "IPv6AcceptRA=no",
        "ARP=no",
        "Promiscuous=yes",
    ):
        assert line in net.splitlines()
    assert "Address=" not in net
    sysctl = (tmp_path / "etc/sysctl.d/60-branchwatch-capture-eth0.conf").read_text()
    assert "net.ipv6.conf.eth0.disable_ipv6 = 1" in sysctl
    wpa = tmp_path / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
    assert stat.S_IMODE(wpa.stat().st_mode) == 0o600


def test_second_boot_does_nothing_and_keeps_keys(tmp_path: Path) -> None:
    lay_out(tmp_path)
    first_boot(tmp_path)
    key = (tmp_path / "var/lib/branchwatch/keys/signing.key").read_bytes()
    assert first_boot(tmp_path) == "already"
    assert (tmp_path / "var/lib/branchwatch/keys/signing.key").read_bytes() == key


def test_power_cut_before_scrub_reruns_with_same_identity(tmp_path: Path) -> None:
    boot = lay_out(tmp_path)
    first_boot(tmp_path)
    identity = load_identity(tmp_path / "var/lib/branchwatch")
    (boot / "site.toml").write_text(BUNDLE)  # as if power was cut before the scrub
    assert first_boot(tmp_path) == "provisioned"
    assert load_identity(tmp_path / "var/lib/branchwatch") == identity


def test_scrub_overwrites_with_zeros_before_unlink(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"token-abc")
    keep = tmp_path / "link"
    keep.hardlink_to(path)  # a second name shows what the data blocks hold after the scrub
    scrub(path)
    assert not path.exists()
    assert keep.read_bytes() == bytes(9)


def test_no_bundle_is_reported(tmp_path: Path) -> None:
    (tmp_path / "boot/firmware").mkdir(parents=True)
    assert first_boot(tmp_path) == "no-bundle"


def test_invalid_bundle_lists_every_problem(tmp_path: Path) -> None:
    boot = lay_out(
        tmp_path,
        'site = "x"\nbroker = "http://nope"\ncolour = "red"\n[uplink]\naddress = "10.0.0.300/24"\n',
    )
    with pytest.raises(BundleError) as info:
        read_bundle(boot / "site.toml")
    text = " | ".join(info.value.problems)
    for part in ("sensor_id: required", "broker:", "colour: unknown key", "uplink.address"):
        assert part in text


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        ("ca_cert", "ca_cert: required with an mqtts:// broker"),
        ("enrol_key", "enrol_cert, enrol_key: required with a token"),
        ("enrol_cert", "enrol_cert, enrol_key: required with a token"),
    ],
)
def test_bundle_that_could_never_connect_is_refused(
    tmp_path: Path, drop: str, problem: str
) -> None:
    """Found booting the image under QEMU: a bundle with an mqtts:// broker but no CA was
    accepted, and the sensor then failed at start on the missing CA file."""
    data = tomllib.loads(BUNDLE)
    del data[drop]
    text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict))
    boot = lay_out(tmp_path, text + "\n")
    with pytest.raises(BundleError) as info:
        read_bundle(boot / "site.toml")
    assert any(p.startswith(problem) for p in info.value.problems)


def test_plain_mqtt_bundle_needs_no_ca(tmp_path: Path) -> None:
    boot = lay_out(tmp_path, 'site = "s"\nsensor_id = "a"\nbroker = "mqtt://10.0.0.5"\n')
    assert read_bundle(boot / "site.toml")["broker"] == "mqtt://10.0.0.5"
