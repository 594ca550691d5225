"""The collector side of the boot test (image-build/boottest.sh), on the host.

QEMU's user network shows the host to the guest as 10.0.2.2, so the sensor in the image reaches
a broker listening on the host's 127.0.0.1. This sets up what an IT team would (a collector
CA whose broker certificate names 10.0.2.2, the sensor registered with a single-use token and
an enrolment identity), runs the shipped Mosquitto TLS configuration and `collector serve` on
SQLite, and reports what the collector stored.

    boottest_link.py setup WORK PORT    writes WORK/link/site-extra.toml (ca_cert, token,
                                        enrol_cert, enrol_key for the site bundle)
    boottest_link.py serve WORK PORT    broker + collector until SIGTERM ("ready" on stdout)
    boottest_link.py report WORK        the sensor's row and batch count; exit 1 without any
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SITE, SENSOR = "boottest", "boottest-01"
GUEST_VIEW_OF_HOST = "10.0.2.2"


def _collector(link: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "collector", "--db", str(link / "collector.db"), *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"collector {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def setup(work: Path) -> None:
    link = work / "link"
    link.mkdir(parents=True)
    _collector(link, "ca", "init", str(link / "ca"), "--broker-name", GUEST_VIEW_OF_HOST)
    bundle = link / "bundle"
    token = _collector(
        link, "sensors", "add", SITE, SENSOR, "--bundle", str(bundle), "--ca-dir", str(link / "ca")
    ).strip()
    fields = {
        "token": token,
        "ca_cert": (bundle / "ca.pem").read_text(),
        "enrol_cert": (bundle / "enrol.pem").read_text(),
        "enrol_key": (bundle / "enrol.key").read_text(),
    }
    text = "".join(f'{key} = """{value}"""\n' for key, value in fields.items())
    (link / "site-extra.toml").write_text(text)


def serve(work: Path, port: int) -> None:
    from tests.broker import Mosquitto, shipped_config

    link = work / "link"
    broker = Mosquitto(link, port)
    broker.config.write_text(shipped_config(link / "ca", port))
    broker.start()
    ca = link / "ca"
    log = (link / "collector.log").open("w")
    collector = subprocess.Popen(
        [sys.executable, "-m", "collector", "--db", str(link / "collector.db"), "serve",
         "--broker", f"127.0.0.1:{port}", "--ca", str(ca / "ca.pem"),
         "--cert", str(ca / "collector.pem"), "--key-file", str(ca / "collector.key"),
         "--ca-dir", str(ca)],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    try:
        while not done.wait(1.0):
            if collector.poll() is not None:
                raise SystemExit(f"collector exited {collector.returncode}: {link}/collector.log")
    finally:
        collector.terminate()
        collector.wait(15)
        broker.stop()
        log.close()


def report(work: Path) -> int:
    db = sqlite3.connect(work / "link" / "collector.db")
    row = db.execute(
        'SELECT "SensorId", "FindingsIngested" FROM "Sensors" WHERE "SensorId" = ?', (SENSOR,)
    ).fetchone()
    batches = db.execute('SELECT COUNT(*) FROM "Batches" WHERE "SensorId" = ?', (SENSOR,))
    count = batches.fetchone()[0]
    print(f"collector: sensor {row}, {count} batches verified and stored")
    return 0 if row is not None and count > 0 else 1


def main(argv: list[str]) -> int:
    command, work = argv[0], Path(argv[1])
    if command == "setup":
        setup(work)
    elif command == "serve":
        serve(work, int(argv[2]))
    elif command == "report":
        return report(work)
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
