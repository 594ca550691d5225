"""`make demo`: a branch office end to end on this machine, with every part real.

1. writes a branch-office capture with the persona generator (tests/personas: printers,
   cameras, phones, TVs, conferencing, badge readers, UPSes, thermostats, network gear, PCs,
   phones, a scanner) and a risk scenario (Telnet, VNC, a port scan);
2. creates the collector CA, starts Mosquitto on a free loopback port with the shipped broker
   configuration (TLS, client certificates, ACL) and the collector on SQLite;
3. registers a sensor (`sensors add --bundle`: single-use token + enrolment identity),
   provisions it (keys generated locally) and lets `branchwatch run` enrol with the token;
4. replays the capture through `branchwatch run --pcap` until the backlog is acknowledged;
5. prints the collector's inventory, recommendations, alerts and vulnerabilities;
6. stops everything it started. Files stay in out/demo/.

Run from the repository (it reads tests/personas and tests/fixtures): python -m firmware.demo
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from firmware.provision import write_private

REPO = Path(__file__).resolve().parent.parent
SITE, SENSOR = "branch-demo", "bw-demo-01"

QUERIES = {
    "Inventory (DeviceInfo)": """
        SELECT "MacAddress", "DeviceName", "DeviceType", "Vendor", "Model", "FirmwareVersion"
        FROM "DeviceInfo" ORDER BY "DeviceType", "Vendor", "MacAddress" """,
    "Recommendations": """
        SELECT r."RuleId", r."Status", d."MacAddress", d."DeviceName", d."DeviceType"
        FROM "Recommendations" r LEFT JOIN "DeviceInfo" d ON d."DeviceId" = r."DeviceId"
        ORDER BY r."RuleId", d."MacAddress" """,
    "Alerts": """
        SELECT "RuleId", "Severity", "Status", "AttackTechnique", "DeviceIds", "Count"
        FROM "Alerts" ORDER BY "FirstSeen" """,
    "Vulnerabilities (DeviceTvmSoftwareVulnerabilities)": """
        SELECT v."CveId", v."VulnerabilitySeverityLevel", v."CvssScore", v."IsKnownExploited",
               d."Vendor", d."Model", d."FirmwareVersion", d."MacAddress"
        FROM "DeviceTvmSoftwareVulnerabilities" v JOIN "DeviceInfo" d ON d."DeviceId" = v."DeviceId"
        ORDER BY v."CvssScore" DESC """,
}


@dataclass
class DemoPaths:
    root: Path

    @property
    def capture(self) -> Path:
        return self.root / "branch.pcap"

    @property
    def ca(self) -> Path:
        return self.root / "ca"

    @property
    def db(self) -> str:
        return f"sqlite:///{self.root / 'collector.db'}"

    @property
    def sensor_state(self) -> Path:
        return self.root / "sensor"

    @property
    def sensor_config(self) -> Path:
        return self.root / "sensor.toml"


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _collector(paths: DemoPaths, *args: str, check: bool = True) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "collector", "--db", paths.db, *args],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    if check and out.returncode != 0:
        raise RuntimeError(f"branchwatch-collector {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def _site_bundle(paths: DemoPaths, token: str, broker_port: int, bundle: Path) -> None:
    """Turn `sensors add --bundle` output into the sensor's enrolment files (what first boot
    does with site.toml on an appliance)."""
    keys = paths.sensor_state / "keys"
    write_private(keys / "ca.crt", (bundle / "ca.pem").read_bytes())
    write_private(keys / "enrol.pem", (bundle / "enrol.pem").read_bytes())
    write_private(keys / "enrol.key", (bundle / "enrol.key").read_bytes())
    write_private(keys / "collector.pub", (paths.ca / "ack.pub").read_bytes())


def _sensor_config(paths: DemoPaths) -> None:
    text = paths.sensor_config.read_text()
    text = text.replace(
        "[uplink]\n",
        "[uplink]\n"
        f'collector_key_file = "{paths.sensor_state / "keys" / "collector.pub"}"\n'
        "batch_seal_interval_s = 2.0\n"
        "ack_timeout_s = 15.0\n"
        "retry_min_s = 0.5\n"
        "retry_max_s = 5.0\n",
    )
    text += "\n[leds]\nenabled = false\n"
    paths.sensor_config.write_text(text)


def run_demo(root: Path, *, quiet: bool = False) -> int:
    """The whole demo; returns branchwatch run's exit code (0 = everything acknowledged)."""
    from tests.broker import MOSQUITTO, Mosquitto, free_port, shipped_config
    from tests.personas.scenario import write_branch_capture
    from uplink.batch import Signer

    paths = DemoPaths(root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    if MOSQUITTO is None:
        print("the demo needs mosquitto: apt-get install mosquitto (make demo does it as root)")
        return 69
    _say("1. branch-office capture from the persona generator")
    count = write_branch_capture(paths.capture)
    print(f"{paths.capture}: {count} packets")

    _say("2. collector CA, broker (TLS, client certificates, ACL) and collector on SQLite")
    print(_collector(paths, "ca", "init", str(paths.ca), "--broker-name", "127.0.0.1").strip())
    ack = Signer.generate()
    write_private(paths.ca / "ack.key", ack.seed())
    (paths.ca / "ack.pub").write_bytes(ack.public_key_bytes)
    port = free_port()
    broker = Mosquitto(root, port)
    broker.config.write_text(shipped_config(paths.ca, port))
    broker.start()
    collector = None
    log = (root / "collector.log").open("w")
    try:
        nvd = sorted((REPO / "tests" / "fixtures" / "nvd").glob("*.json"))
        if nvd:
            print(_collector(paths, "cve", "import", *map(str, nvd)).strip())
        collector = subprocess.Popen(
            [sys.executable, "-m", "collector", "--db", paths.db, "serve",
             "--broker", f"127.0.0.1:{port}", "--ca", str(paths.ca / "ca.pem"),
             "--cert", str(paths.ca / "collector.pem"), "--key-file", str(paths.ca / "collector.key"),
             "--ca-dir", str(paths.ca), "--ack-key", str(paths.ca / "ack.key")],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        print(f"broker on 127.0.0.1:{port}; collector pid {collector.pid}")

        _say("3. register, provision and enrol the sensor")
        bundle = root / "bundle"
        token = _collector(
            paths,
            "sensors",
            "add",
            SITE,
            SENSOR,
            "--bundle",
            str(bundle),
            "--ca-dir",
            str(paths.ca),
        ).strip()
        print(f"sensors add {SITE} {SENSOR}: single-use token issued ({len(token)} chars)")
        _run_sensor(["provision", "--site", SITE, "--sensor-id", SENSOR,
                     "--broker", f"mqtts://127.0.0.1:{port}", f"--token={token}",
                     "--state-dir", str(paths.sensor_state),
                     "--config-out", str(paths.sensor_config)])  # fmt: skip
        _site_bundle(paths, token, port, bundle)
        _sensor_config(paths)

        _say("4. branchwatch run --pcap (enrols, replays, uploads signed batches, waits for acks)")
        code = _run_sensor(["-v", "run", "--config", str(paths.sensor_config),
                            "--pcap", str(paths.capture), "--exit-when-done",
                            "--done-timeout", "90"], quiet=quiet)  # fmt: skip
        print(f"branchwatch run exited {code}")
        # The collector commits before it acks, so everything acknowledged is queryable now.
        _say("5. what the collector shows")
        for title, sql in QUERIES.items():
            print(f"\n-- {title}")
            print(_collector(paths, "query", " ".join(sql.split())))
        print(_collector(paths, "sensors", "list"))
        return code
    finally:
        _say("6. stopping what the demo started")
        if collector is not None:
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(15)
            except subprocess.TimeoutExpired:
                collector.kill()
                collector.wait(5)
        broker.stop()
        log.close()
        print(f"files kept in {root}")


def _run_sensor(argv: Sequence[str], *, quiet: bool = False) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "firmware", *argv], cwd=REPO, timeout=300,
        stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.STDOUT if quiet else None,
    )  # fmt: skip
    if argv and argv[0] == "provision" and out.returncode != 0:
        raise RuntimeError(f"branchwatch provision failed ({out.returncode})")
    return out.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=REPO / "out" / "demo")
    args = parser.parse_args(argv)
    start = time.monotonic()
    code = run_demo(args.out)
    print(f"demo finished in {time.monotonic() - start:.0f} s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
