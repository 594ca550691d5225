"""First boot: provision the sensor once from the site bundle on the SD card's boot partition.

`branchwatch firstboot [--root /]` reads `<boot>/site.toml`, and in order, each step atomic and
safe to repeat after a power cut:

1. validates the bundle (every problem reported at once);
2. provisions the identity (keys generated here, never leaving the device);
3. writes the CA certificate, the operator configuration, the network policy (capture
   interface without any address or IPv6, uplink on wlan0 or USB Ethernet), NTP servers and
   the optional SSH key;
4. overwrites the bundle with zeros (a FAT delete leaves the data on the card), fsyncs and
   deletes it, and leaves PROVISIONED.txt without secrets.

Bundle keys (site.toml):

    site, sensor_id, broker ("mqtts://host:port"), ca_cert (PEM text), token,
    enrol_cert, enrol_key (PEM: the enrolment identity that may only publish the request),
    collector_key (PEM: the collector's Ed25519 public key that signs acks and commands),
    capture_interface ("eth0"), ntp_servers ([...]), ssh_authorized_key,
    [uplink] interface ("wlan0" or e.g. "eth1"), address ("dhcp" or "192.0.2.10/24"),
             gateway, dns ([...]), proxy, wifi_ssid, wifi_psk, wifi_country
    [leds]   green_pin, red_pin, button_pin
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from firmware.provision import (
    ProvisionError,
    config_text,
    parse_broker_url,
    provision,
    write_private,
)

EX_DATAERR = 65
BUNDLE = "site.toml"
MARKER = "PROVISIONED.txt"

_TOP: dict[str, type] = {
    "site": str,
    "sensor_id": str,
    "broker": str,
    "ca_cert": str,
    "token": str,
    "capture_interface": str,
    "ntp_servers": list,
    "ssh_authorized_key": str,
    "enrol_cert": str,
    "enrol_key": str,
    "collector_key": str,
    "uplink": dict,
    "leds": dict,
}
_UPLINK: dict[str, type] = {
    "interface": str,
    "address": str,
    "gateway": str,
    "dns": list,
    "proxy": str,
    "wifi_ssid": str,
    "wifi_psk": str,
    "wifi_country": str,
}
_LEDS: dict[str, type] = {"green_pin": int, "red_pin": int, "button_pin": int}
_REQUIRED = ("site", "sensor_id", "broker")


class BundleError(ProvisionError):
    """The site bundle is invalid; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_bundle(path: Path) -> dict[str, Any]:
    """Parse and validate site.toml, reporting every problem at once."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BundleError([f"{path.name}: {exc}"]) from exc
    problems = _check_table(data, _TOP, "")
    problems += _check_table(data.get("uplink", {}), _UPLINK, "uplink.")
    problems += _check_table(data.get("leds", {}), _LEDS, "leds.")
    problems += [f"{key}: required" for key in _REQUIRED if not data.get(key)]
    if data.get("broker"):
        try:
            tls = parse_broker_url(str(data["broker"]))[2]
        except ProvisionError as exc:
            problems.append(f"broker: {exc}")
        else:
            if tls and not data.get("ca_cert"):
                # The sensor verifies the broker against this CA: without it no TLS connection
                # (enrolment, upload) can ever succeed, so the card is refused at HQ.
                problems.append("ca_cert: required with an mqtts:// broker (the collector's CA)")
    if data.get("token") and not (data.get("enrol_cert") and data.get("enrol_key")):
        problems.append("enrol_cert, enrol_key: required with a token (the enrolment identity)")
    address = data.get("uplink", {}).get("address", "dhcp")
    if isinstance(address, str) and address != "dhcp":
        try:
            ipaddress.ip_interface(address)
        except ValueError:
            problems.append(f"uplink.address: not 'dhcp' nor an address/prefix: {address!r}")
    if data.get("ca_cert") and "BEGIN CERTIFICATE" not in str(data["ca_cert"]):
        problems.append("ca_cert: not a PEM certificate")
    if problems:
        raise BundleError(problems)
    return data


def _check_table(data: Any, schema: dict[str, type], prefix: str) -> list[str]:
    if not isinstance(data, dict):
        return [f"{prefix.rstrip('.')}: expected a table"]
    problems = [f"{prefix}{key}: unknown key" for key in data if key not in schema]
    for key, kind in schema.items():
        if key in data and not isinstance(data[key], kind):
            problems.append(f"{prefix}{key}: expected {kind.__name__}")
    return problems


def network_files(bundle: dict[str, Any]) -> dict[str, str]:
    """systemd-networkd, sysctl, wpa_supplicant and timesyncd files (path under /etc -> text)."""
    capture = bundle.get("capture_interface", "eth0")
    uplink = bundle.get("uplink", {})
    up_if = uplink.get("interface", "wlan0")
    files: dict[str, str] = {
        # The mirror port: up and promiscuous, no address of any kind, no IPv6 (no DAD, MLD,
        # router solicitations), no ARP: the sensor never transmits on it.
        f"systemd/network/10-capture-{capture}.network": "\n".join(
            [
                "[Match]",
                f"Name={capture}",
                "",
                "[Link]",
                "ARP=no",
                "Promiscuous=yes",
                "RequiredForOnline=no",
                "",
                "[Network]",
                "DHCP=no",
                "LinkLocalAddressing=no",
                "IPv6AcceptRA=no",
                "LLMNR=no",
                "MulticastDNS=no",
                "LLDP=no",
                "EmitLLDP=no",
                "",
            ]
        ),
        f"sysctl.d/60-branchwatch-capture-{capture}.conf": (
            f"net.ipv6.conf.{capture}.disable_ipv6 = 1\nnet.ipv6.conf.{capture}.accept_ra = 0\n"
        ),
    }
    address = uplink.get("address", "dhcp")
    net = ["[Match]", f"Name={up_if}", "", "[Network]"]
    if address == "dhcp":
        net.append("DHCP=yes")
    else:
        net.append(f"Address={address}")
        if uplink.get("gateway"):
            net.append(f"Gateway={uplink['gateway']}")
    net += [f"DNS={server}" for server in uplink.get("dns", [])]
    files[f"systemd/network/20-uplink-{up_if}.network"] = "\n".join(net) + "\n"
    if uplink.get("wifi_ssid"):
        files[f"wpa_supplicant/wpa_supplicant-{up_if}.conf"] = "\n".join(
            [
                "ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev",
                f"country={uplink.get('wifi_country', 'US')}",
                "network={",
                f"    ssid={json.dumps(uplink['wifi_ssid'])}",
                f"    psk={json.dumps(uplink.get('wifi_psk', ''))}",
                "}",
                "",
            ]
        )
    if bundle.get("ntp_servers"):
        files["systemd/timesyncd.conf.d/branchwatch.conf"] = (
            "[Time]\nNTP=" + " ".join(bundle["ntp_servers"]) + "\n"
        )
    if uplink.get("proxy"):
        files["branchwatch/proxy.env"] = f"HTTPS_PROXY={uplink['proxy']}\n"
    return files


def scrub(path: Path) -> None:
    """Overwrite a file with zeros in place, fsync, then delete it (and fsync the directory)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, bytes(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def first_boot(
    root: Path, boot_dir: str = "boot/firmware", state_dir: str = "var/lib/branchwatch"
) -> str:
    """Run first boot under `root`. Returns "provisioned", "already" or "no-bundle"."""
    boot = root / boot_dir
    bundle_path = boot / BUNDLE
    if not bundle_path.exists():
        return "already" if (boot / MARKER).exists() else "no-bundle"
    bundle = read_bundle(bundle_path)
    state = root / state_dir
    identity = provision(state, bundle["site"], bundle["sensor_id"], token=bundle.get("token", ""))
    etc = root / "etc"
    keys = state / "keys"
    for field, name in (
        ("ca_cert", "ca.crt"),
        ("enrol_cert", "enrol.pem"),
        ("enrol_key", "enrol.key"),
        ("collector_key", "collector.pub"),
    ):
        if bundle.get(field):
            write_private(keys / name, bundle[field].encode())
    config = config_text(
        identity,
        Path("/") / state_dir,
        bundle["broker"],
        bundle.get("capture_interface", "eth0"),
        with_collector_key=bool(bundle.get("collector_key")),
    )
    leds = bundle.get("leds", {})
    if leds:
        config += "\n[leds]\n" + "".join(f"{k} = {int(v)}\n" for k, v in sorted(leds.items()))
    write_private(etc / "branchwatch" / "branchwatch.toml", config.encode())
    for rel, text in network_files(bundle).items():
        write_private(etc / rel, text.encode())
        if not rel.startswith(("wpa_supplicant/", "branchwatch/")):
            os.chmod(etc / rel, 0o644)
    if bundle.get("ssh_authorized_key"):
        write_private(
            root / "root/.ssh/authorized_keys", (bundle["ssh_authorized_key"] + "\n").encode()
        )
    marker = "\n".join(
        [
            "Branchwatch sensor provisioned.",
            f"site: {identity.site}",
            f"sensor_id: {identity.sensor_id}",
            f"key_id: {identity.key_id}",
            f"key fingerprint: {identity.fingerprint}",
            f"provisioned_at: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "The site bundle (with its token and Wi-Fi password) was overwritten and deleted.",
            "",
        ]
    )
    write_private(boot / MARKER, marker.encode())
    scrub(bundle_path)
    return "provisioned"


def add_parser(sub: Any) -> list[str]:
    parser = sub.add_parser("firstboot", help="provision from the boot partition's site.toml")
    parser.add_argument("--root", default="/", help="filesystem root (image builds, tests)")
    parser.add_argument("--boot-dir", default="boot/firmware")
    parser.add_argument("--state-dir", default="var/lib/branchwatch")
    return ["firstboot"]


def run(args: argparse.Namespace) -> int:
    try:
        outcome = first_boot(Path(args.root), args.boot_dir, args.state_dir)
    except BundleError as exc:
        for problem in exc.problems:
            print(f"site.toml: {problem}", file=sys.stderr)
        return EX_DATAERR
    except ProvisionError as exc:
        print(f"firstboot: {exc}", file=sys.stderr)
        return EX_DATAERR
    print(f"firstboot: {outcome}")
    return 0
