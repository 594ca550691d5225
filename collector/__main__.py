"""branchwatch-collector: the collector's command line.

    serve                       subscribe (shared subscription), ingest, ack
    ca init DIR                 create the CA, the broker's and a collector's key and certificate
    sensors add SITE ID [--pubkey KEY] [--bundle DIR --ca-dir DIR]
    sensors list | revoke ID [--key KEYID] | rotate ID --pubkey KEY   (KEY: hex or base64)
    cve import FILE...          NVD CVE JSON 2.0 pages or per-CVE files, then re-match
    query "SQL" [--json]        read-only hunting query
    command SENSOR enable|disable|device-cap N|resend-inventory

Settings: collector/default.toml, then `--config FILE` key by key. The database is `--db`, else
$BRANCHWATCH_COLLECTOR_DB, else the config's (`sqlite:///path` or `postgresql://...`).
Exit codes: 0 ok, 1 operation refused, 2 usage, 69 broker unavailable, 78 bad config.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from collector.ca import CertificateAuthority, cert_pem
from collector.commands import issue_command
from collector.config import CollectorConfig, load_config
from collector.cve import CpeMap, Matcher, import_records, read_records, rematch
from collector.enrol import Enrolment, enrol_identity, parse_public_key
from collector.errors import CollectorConfigError, CollectorError
from collector.ingest import IngestConfig, Ingestor
from collector.queries import format_json, format_table, run_query
from collector.registry import DEFAULT_OVERLAP_S, add_sensor, list_sensors, revoke, rotate_key
from collector.store import Store, open_store
from uplink.batch import CommandName, Signer
from uplink.errors import UplinkError

log = logging.getLogger("collector")
EX_CONFIG = 78  # sysexits.h: the configuration is invalid


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="branchwatch-collector", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=None, help="TOML over collector/default.toml")
    p.add_argument("--db", default=None, help="overrides $BRANCHWATCH_COLLECTOR_DB and the config")
    p.add_argument("--schema", default=None, help="PostgreSQL schema (default: the config's)")
    sub = p.add_subparsers(dest="cmd", required=True)

    serve = sub.add_parser("serve", help="ingest batches from the broker ([broker] of the config)")
    serve.add_argument("--broker", default=None, help="host:port (overrides broker.host/port)")
    serve.add_argument("--ca", default=None, help="broker CA file (broker.ca_file)")
    serve.add_argument("--cert", default=None, help="client certificate (broker.cert_file)")
    serve.add_argument(
        "--key-file", dest="tls_key", default=None, help="client key (broker.key_file)"
    )
    serve.add_argument("--group", default=None, help="shared subscription group (broker.group)")
    serve.add_argument(
        "--ca-dir", default=None, help="CA directory, enables enrolment (collector.ca_dir)"
    )
    serve.add_argument("--ack-key", default=None, help="key file signing acks (collector.ack_key)")

    ca = sub.add_parser("ca").add_subparsers(dest="action", required=True)
    ca_init = ca.add_parser("init")
    ca_init.add_argument("dir")
    ca_init.add_argument("--broker-name", default="localhost")
    ca_init.add_argument("--collector-name", default="collector.main")

    sensors = sub.add_parser("sensors").add_subparsers(dest="action", required=True)
    add = sensors.add_parser("add")
    add.add_argument("site")
    add.add_argument("sensor_id")
    add.add_argument("--pubkey", default=None, help="Ed25519 public key, hex or base64")
    add.add_argument("--token-days", type=float, default=7.0)
    add.add_argument("--bundle", default=None, help="write token, CA and enrolment identity here")
    add.add_argument("--ca-dir", default=None)
    sensors.add_parser("list")
    rev = sensors.add_parser("revoke")
    rev.add_argument("sensor_id")
    rev.add_argument("--key", default=None, help="revoke one key id only")
    rot = sensors.add_parser("rotate")
    rot.add_argument("sensor_id")
    rot.add_argument("--pubkey", required=True)
    rot.add_argument("--overlap-days", type=float, default=DEFAULT_OVERLAP_S / 86_400)

    cve = sub.add_parser("cve").add_subparsers(dest="action", required=True)
    imp = cve.add_parser("import")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--cpe-map", default=None)

    query = sub.add_parser("query")
    query.add_argument("sql")
    query.add_argument("--json", action="store_true")
    query.add_argument("--timeout", type=float, default=30.0)

    command = sub.add_parser("command")
    command.add_argument("sensor_id")
    command.add_argument("name", choices=["enable", "disable", "device-cap", "resend-inventory"])
    command.add_argument("value", nargs="?", type=int)
    command.add_argument("--key", required=True, help="collector Ed25519 key file")
    _broker_args(command)
    return p


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", default="127.0.0.1:8883", help="host:port")
    p.add_argument("--ca", default=None)
    p.add_argument("--cert", default=None)
    p.add_argument("--key-file", dest="tls_key", default=None)


def _host_port(broker: str) -> tuple[str, int]:
    host, _, port = broker.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: Sequence[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """The CLI. `stop` ends `serve` (tests; otherwise SIGTERM/SIGINT do)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        args.settings = load_config(args.config)
    except CollectorConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    db = args.db or os.environ.get("BRANCHWATCH_COLLECTOR_DB") or args.settings.collector.db
    try:
        store = open_store(db, schema=args.schema or args.settings.collector.schema)
    except CollectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return _dispatch(args, store, stop)
    except (CollectorError, UplinkError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 69 if exc.__class__.__name__ == "BrokerUnavailableError" else 1
    finally:
        store.close()


def _dispatch(args: argparse.Namespace, store: Store, stop: threading.Event | None) -> int:
    now = time.time()
    if args.cmd == "sensors":
        return _sensors(args, store, now)
    if args.cmd == "ca":
        return _ca_init(Path(args.dir), args.broker_name, args.collector_name)
    if args.cmd == "cve":
        total = sum(import_records(store, read_records(f)) for f in args.files)
        matched = rematch(store, CpeMap.load(args.cpe_map))
        print(f"imported {total} CVE records; {matched} device vulnerabilities")
        return 0
    if args.cmd == "query":
        columns, rows = run_query(store, args.sql, timeout_s=args.timeout)
        print(format_json(columns, rows) if args.json else format_table(columns, rows))
        return 0
    if args.cmd == "command":
        return _command(args, store, now)
    return _serve(args, store, stop or threading.Event())


def _sensors(args: argparse.Namespace, store: Store, now: float) -> int:
    if args.action == "add":
        key = parse_public_key(args.pubkey) if args.pubkey else None
        if args.bundle and not args.ca_dir:
            print("error: --bundle needs --ca-dir", file=sys.stderr)
            return 2
        token = add_sensor(
            store, args.site, args.sensor_id, now=now, public_key=key,
            token_ttl_s=args.token_days * 86_400,
        )  # fmt: skip
        if token and args.bundle:
            _write_bundle(Path(args.bundle), Path(args.ca_dir), args.sensor_id, token)
        print(token if token else f"sensor {args.sensor_id} enrolled with its public key")
    elif args.action == "list":
        for s in list_sensors(store):
            last = (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s.last_batch_at))
                if s.last_batch_at
                else "-"
            )
            print(
                f"{s.site}\t{s.sensor_id}\t{s.status}\tbatches={s.batches_ingested}\tlast={last}\tkeys={','.join(s.keys)}"
            )
    elif args.action == "revoke":
        revoke(store, args.sensor_id, now=now, key_id=args.key)
    elif args.action == "rotate":
        key_id = rotate_key(
            store, args.sensor_id, parse_public_key(args.pubkey), now=now,
            overlap_s=args.overlap_days * 86_400,
        )  # fmt: skip
        print(key_id)
    return 0


def _ca_init(directory: Path, broker_name: str, collector_name: str) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.key").exists():
        print(f"error: {directory}/ca.key exists", file=sys.stderr)
        return 1
    ca = CertificateAuthority.create()
    ca.save(directory / "ca.key", directory / "ca.pem")
    for name, stem, server in ((broker_name, "broker", True), (collector_name, "collector", False)):
        key, cert = ca.issue(name, server=server)
        (directory / f"{stem}.key").write_bytes(key)
        (directory / f"{stem}.key").chmod(0o600)
        (directory / f"{stem}.pem").write_bytes(cert)
    print(f"CA, broker ({broker_name}) and collector ({collector_name}) identities in {directory}")
    return 0


def _write_bundle(bundle: Path, ca_dir: Path, sensor_id: str, token: str) -> None:
    """The site bundle's enrolment part: token, CA, and an enrolment identity
    (CN = enrol.<sensor id>: it may only publish the enrolment request, see collector/enrol.py)."""
    ca = CertificateAuthority.load(ca_dir / "ca.key", ca_dir / "ca.pem")
    key, cert = ca.issue(enrol_identity(sensor_id), days=8)
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "token").write_text(token + "\n")
    (bundle / "token").chmod(0o600)
    (bundle / "ca.pem").write_bytes(cert_pem(ca.cert))
    (bundle / "enrol.key").write_bytes(key)
    (bundle / "enrol.key").chmod(0o600)
    (bundle / "enrol.pem").write_bytes(cert)


def _command(args: argparse.Namespace, store: Store, now: float) -> int:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    name = CommandName(args.name.replace("-", "_"))
    cmd_args = {}
    if name is CommandName.DEVICE_CAP:
        if args.value is None or args.value < 1:
            print("error: device-cap needs a positive N", file=sys.stderr)
            return 2
        cmd_args = {"max_devices": args.value}
    topic, frame, command = issue_command(
        store, args.sensor_id, name, Signer.load(args.key), now=now, args=cmd_args
    )
    host, port = _host_port(args.broker)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if args.ca:
        client.tls_set(ca_certs=args.ca, certfile=args.cert, keyfile=args.tls_key)
    client.connect(host, port)
    client.loop_start()
    try:
        client.publish(topic, frame, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()
    print(f"sent {name} #{command.counter} to {args.sensor_id}")
    return 0


def _with_flags(settings: CollectorConfig, args: argparse.Namespace) -> CollectorConfig:
    """The configuration with serve's command-line flags laid over it."""
    broker: dict[str, object] = {}
    if args.broker:
        broker["host"], broker["port"] = _host_port(args.broker)
    for flag, key in (
        ("ca", "ca_file"),
        ("cert", "cert_file"),
        ("tls_key", "key_file"),
        ("group", "group"),
    ):
        if getattr(args, flag):
            broker[key] = getattr(args, flag)
    collector = {k: getattr(args, k) for k in ("ca_dir", "ack_key") if getattr(args, k)}
    return dataclasses.replace(
        settings,
        broker=dataclasses.replace(settings.broker, **broker),  # type: ignore[arg-type]
        collector=dataclasses.replace(settings.collector, **collector),
    )


def _serve(args: argparse.Namespace, store: Store, stop: threading.Event) -> int:
    from collector.subscriber import BrokerConfig, Subscriber

    settings: CollectorConfig = _with_flags(args.settings, args)
    c, b = settings.collector, settings.broker
    matcher = Matcher(CpeMap.load())
    ingestor = Ingestor(
        store,
        IngestConfig(
            max_batch_bytes=c.max_batch_bytes,
            clock_skew_max_s=c.clock_skew_max_s,
            rotation_overlap_s=c.rotation_overlap_days * 86_400,
        ),
        on_devices_changed=lambda ids: matcher.rematch(store, device_ids=ids),
    )
    signer = Signer.load(c.ack_key) if c.ack_key else None
    enrolment = None
    if c.ca_dir:
        ca = CertificateAuthority.load(Path(c.ca_dir) / "ca.key", Path(c.ca_dir) / "ca.pem")
        enrolment = Enrolment(store, ca).handle
    broker = BrokerConfig(
        host=b.host, port=b.port, group=b.group, client_id=b.client_id,
        ca_file=b.ca_file or None, cert_file=b.cert_file or None, key_file=b.key_file or None,
        keepalive_s=b.keepalive_s, queue_max=b.queue_max, batch_max=b.batch_max,
    )  # fmt: skip
    sub = Subscriber(ingestor, broker, ack_signer=signer, enrolment=enrolment)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    sub.start()
    try:
        while True:
            removed = store.purge(c.retention_days, time.time())
            log.info("retention %g days: %d rows removed", c.retention_days, sum(removed.values()))
            if stop.wait(3600):
                break
    finally:
        sub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
