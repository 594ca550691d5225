"""Collector benchmark part: ingest through Mosquitto, publish→ack latency, CVE matching.

1. verify-only: uplink.batch.verify_batch over the same pre-signed batches (findings/s);
2. ingest: ≥ 200 simulated sensors publish pre-signed batches of 50 findings through a real
   Mosquitto on loopback to one collector instance (SQLite, WAL, synchronous=FULL); findings/s
   from the first publish to the last ack, and its ratio to the verify-only rate. Measured
   twice, into fresh databases: with the publisher and ack watcher in this process (sharing
   the collector's GIL, as first measured) and in a separate process (`_separate`), where
   only the CPU, not the interpreter, is shared with the load generator; and directly
   (`direct_`): Ingestor.handle_many on groups of 200 (the subscriber's batch_max) with no
   broker, in wall-clock and in CPU seconds of this process (the collector code's own cost,
   less sensitive to what else the machine runs);
3. latency: batches published at 80 % of that rate; p50/p99 publish→ack;
4. CVE matching: 1,000 devices against the real NVD fixtures plus generated records in the
   same NVD 2.0 structure (≥ 50,000 in all); the indexed matcher against a naive scan (every
   record evaluated for every device; timed on a sample of devices and scaled, as the full
   naive scan takes too long to run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import tests.conftest  # noqa: F401 - first: tests.broker and tests.conftest import each other
from collector.cpe import evaluate, parse_configurations
from collector.cve import CpeMap, CveRecord, import_records, parse_record, read_records, rematch
from collector.ingest import Ingestor, Received
from collector.registry import add_sensor
from collector.store import open_store
from collector.subscriber import BrokerConfig, Subscriber
from tests.broker import Mosquitto
from uplink.batch import decode_ack, verify_batch
from uplink.testing import SensorSimulator

REPO = Path(__file__).resolve().parents[2]
NOW = 1_764_241_200.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("collector part")
    group.add_argument("--collector-sensors", type=int, default=200)
    group.add_argument("--collector-batches", type=int, default=10, help="per sensor")
    group.add_argument("--collector-findings", type=int, default=50, help="per batch")
    group.add_argument("--collector-cve-records", type=int, default=50_000)
    group.add_argument("--collector-devices", type=int, default=1_000)
    group.add_argument("--collector-naive-sample", type=int, default=20)


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = getattr(args, "quick", False)
    sensors = args.collector_sensors
    per_sensor = args.collector_batches if not quick else 2
    out: dict[str, Any] = {}
    sims = [SensorSimulator(f"pi-{i:04d}", f"site-{i % 20}") for i in range(sensors)]
    batches = [
        (s, s.next_batch(findings=args.collector_findings)) for _ in range(per_sensor) for s in sims
    ]
    out.update(_verify_only(sims, batches, args.collector_findings))
    out.update(_ingest_direct(sims, batches, args.collector_findings))
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp)) as broker:
        ingest = _ingest(Path(tmp), broker, sims, batches, args.collector_findings)
        out.update(ingest)
        out["ingest_vs_verify_ratio"] = round(
            ingest["ingest_findings_per_s"] / out["verify_findings_per_s"], 3
        )
        out.update(_ingest_separate(Path(tmp), broker, sims, batches, args.collector_findings))
        lat_sims = [SensorSimulator(f"lat-{i:04d}", "site-l") for i in range(len(sims))]
        lat_batches = [
            (s, s.next_batch(findings=args.collector_findings))
            for _ in range(max(2, per_sensor // 2))
            for s in lat_sims
        ]
        rate = 0.8 * ingest["ingest_batches_per_s"]
        out.update(_latency(Path(tmp), broker, lat_sims, lat_batches, rate))
    out.update(
        _cve(
            args.collector_cve_records if not quick else 5_000,
            args.collector_devices,
            args.collector_naive_sample,
        )
    )
    return out


def _verify_only(
    sims: list[SensorSimulator], batches: list[tuple[SensorSimulator, bytes]], findings: int
) -> dict[str, Any]:
    start = time.perf_counter()
    for sim, raw in batches:
        verify_batch(raw, sim.public_key_bytes, expected_sensor=sim.sensor_id)
    elapsed = time.perf_counter() - start
    return {"verify_findings_per_s": round(len(batches) * findings / elapsed)}


def _ingest_direct(
    sims: list[SensorSimulator],
    batches: list[tuple[SensorSimulator, bytes]],
    findings: int,
    group: int = 200,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "direct.db"))
        for sim in sims:
            add_sensor(store, sim.site, sim.sensor_id, now=NOW, public_key=sim.public_key_bytes)
        ingestor = Ingestor(store)
        received = [Received(sim.topic(), raw, NOW + 60.0) for sim, raw in batches]
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(received), group):
            ingestor.handle_many(received[i : i + group])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.close()
    done = ingestor.counters.findings
    return {
        "direct_accepted": ingestor.counters.accepted,
        "direct_findings_per_s": round(done / wall),
        "direct_findings_per_cpu_s": round(done / cpu),
    }


class _Acks:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.at: dict[tuple[str, int], float] = {}
        self.done = threading.Event()
        self.lock = threading.Lock()

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        ack = decode_ack(bytes(msg.payload))
        with self.lock:
            self.at.setdefault((ack.sensor_id, ack.seq), time.perf_counter())
            if len(self.at) >= self.expected:
                self.done.set()


def _client(broker: Mosquitto, client_id: str, acks: _Acks | None = None) -> mqtt.Client:
    return _client_at(broker.host, broker.port, client_id, acks)


def _client_at(host: str, port: int, client_id: str, acks: _Acks | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    if acks is not None:
        client.on_message = acks.on_message
    client.connect(host, port)
    client.loop_start()
    if acks is not None:
        client.subscribe("branchwatch/+/+/acks", qos=1)
        subscribed.wait(10)
    return client


def _collector(tmp: Path, broker: Mosquitto, sims: list[SensorSimulator], name: str) -> Subscriber:
    store = open_store(str(tmp / f"{name}.db"))
    for sim in sims:
        add_sensor(store, sim.site, sim.sensor_id, now=NOW, public_key=sim.public_key_bytes)
    sub = Subscriber(
        Ingestor(store),
        BrokerConfig(host=broker.host, port=broker.port, group=name, client_id=name),
    )
    sub.start()
    return sub


def _ingest(
    tmp: Path,
    broker: Mosquitto,
    sims: list[SensorSimulator],
    batches: list[tuple[SensorSimulator, bytes]],
    findings: int,
) -> dict[str, Any]:
    sub = _collector(tmp, broker, sims, "bench-ingest")
    acks = _Acks(len(batches))
    watcher = _client(broker, "ack-watcher", acks)
    publisher = _client(broker, "publisher")
    try:
        start = time.perf_counter()
        for sim, raw in batches:
            publisher.publish(sim.topic(), raw, qos=1)
        finished = acks.done.wait(600)
        elapsed = time.perf_counter() - start
    finally:
        for c in (publisher, watcher):
            c.disconnect()
            c.loop_stop()
        sub.stop()
        sub.ingestor.store.close()
    counters = sub.ingestor.counters
    return {
        "ingest_sensors": len(sims),
        "ingest_batches": len(batches),
        "ingest_findings_per_batch": findings,
        "ingest_completed": finished,
        "ingest_accepted": counters.accepted,
        "ingest_findings_per_s": round(counters.findings / elapsed),
        "ingest_batches_per_s": round(counters.accepted / elapsed, 1),
    }


def _load_process(
    host: str, port: int, messages: list[tuple[str, bytes]], out: Any
) -> None:  # pragma: no cover - runs in the child process
    """Publish every message, wait for every ack; put (all acked, elapsed seconds) on `out`."""
    acks = _Acks(len(messages))
    watcher = _client_at(host, port, "ack-watcher-separate", acks)
    publisher = _client_at(host, port, "publisher-separate")
    try:
        start = time.perf_counter()
        for topic, raw in messages:
            publisher.publish(topic, raw, qos=1)
        finished = acks.done.wait(600)
        elapsed = time.perf_counter() - start
    finally:
        for c in (publisher, watcher):
            c.disconnect()
            c.loop_stop()
    out.put((finished, elapsed))


def _ingest_separate(
    tmp: Path,
    broker: Mosquitto,
    sims: list[SensorSimulator],
    batches: list[tuple[SensorSimulator, bytes]],
    findings: int,
) -> dict[str, Any]:
    """_ingest() with the publisher and ack watcher in a child process (spawned)."""
    sub = _collector(tmp, broker, sims, "bench-ingest-separate")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    messages = [(sim.topic(), raw) for sim, raw in batches]
    child = ctx.Process(target=_load_process, args=(broker.host, broker.port, messages, out))
    cpu = time.process_time()
    try:
        child.start()
        finished, elapsed = out.get(timeout=900)
        cpu = time.process_time() - cpu  # the collector's threads only: the load is a child
        child.join(60)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        sub.stop()
        sub.ingestor.store.close()
    counters = sub.ingestor.counters
    return {
        "ingest_separate_completed": finished,
        "ingest_separate_accepted": counters.accepted,
        "ingest_separate_findings_per_s": round(counters.findings / elapsed),
        "ingest_separate_batches_per_s": round(counters.accepted / elapsed, 1),
        "ingest_separate_collector_cpu_s": round(cpu, 2),
        "ingest_separate_findings_per_collector_cpu_s": round(counters.findings / cpu),
    }


def _latency(
    tmp: Path,
    broker: Mosquitto,
    sims: list[SensorSimulator],
    batches: list[tuple[SensorSimulator, bytes]],
    rate: float,
) -> dict[str, Any]:
    sub = _collector(tmp, broker, sims, "bench-latency")
    acks = _Acks(len(batches))
    watcher = _client(broker, "lat-watcher", acks)
    publisher = _client(broker, "lat-publisher")
    sent: dict[tuple[str, int], float] = {}
    interval = 1.0 / rate
    try:
        start = time.perf_counter()
        for n, (sim, raw) in enumerate(batches):
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator, not waiting for a result
            sent[(sim.sensor_id, int.from_bytes(raw[22:30], "big"))] = time.perf_counter()
            publisher.publish(sim.topic(), raw, qos=1)
        acks.done.wait(600)
    finally:
        for c in (publisher, watcher):
            c.disconnect()
            c.loop_stop()
        sub.stop()
        sub.ingestor.store.close()
    lat = sorted((acks.at[k] - t) * 1000 for k, t in sent.items() if k in acks.at)
    return {
        "latency_rate_batches_per_s": round(rate, 1),
        "latency_batches": len(lat),
        "latency_p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "latency_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1) if lat else None,
    }


VENDORS = [
    ("Hikvision", "hikvision", "DS-2CD{n:04d}"),
    ("HP", "hp", "LaserJet M{n}"),
    ("Axis", "axis", "P{n}"),
    ("Dahua", "dahuasecurity", "IPC-HFW{n}"),
    ("Yealink", "yealink", "T{n}"),
    ("Polycom", "polycom", "VVX {n}"),
]


def _generated(count: int, rng: random.Random) -> list[CveRecord]:
    records = []
    for i in range(count):
        _, vendor, model = VENDORS[i % len(VENDORS)]
        product = "_".join(model.format(n=rng.randrange(3000)).lower().split())
        fw = f"cpe:2.3:o:{vendor}:{product}_firmware:*:*:*:*:*:*:*:*"
        hw = f"cpe:2.3:h:{vendor}:{product}:-:*:*:*:*:*:*:*"
        bound = f"{rng.randrange(1, 9)}.{rng.randrange(10)}.{rng.randrange(10)}"
        cve = {
            "id": f"CVE-2099-{i:06d}",
            "descriptions": [{"lang": "en", "value": "generated benchmark record"}],
            "metrics": {"cvssMetricV31": [{"type": "Primary", "cvssData": {"baseScore": 7.5, "baseSeverity": "HIGH"}}]},
            "configurations": [{"operator": "AND", "nodes": [
                {"operator": "OR", "negate": False, "cpeMatch": [{"vulnerable": True, "criteria": fw, "versionEndExcluding": bound}]},
                {"operator": "OR", "negate": False, "cpeMatch": [{"vulnerable": False, "criteria": hw}]},
            ]}],
        }  # fmt: skip
        records.append(parse_record(cve))
    return records


def _cve(total: int, devices: int, naive_sample: int) -> dict[str, Any]:
    rng = random.Random(2026)
    real = [
        r
        for f in sorted((REPO / "tests" / "fixtures" / "nvd").glob("*.json"))
        for r in read_records(f)
    ]
    records = real + _generated(total - len(real), rng)
    cpe_map = CpeMap.load()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "cve.db"))
        import_records(store, records)
        sim = SensorSimulator("pi-cve", "site-c")
        add_sensor(store, sim.site, sim.sensor_id, now=NOW, public_key=sim.public_key_bytes)
        with store.transaction() as tx:
            for d in range(devices):
                vendor, _, model = VENDORS[d % len(VENDORS)]
                tx.execute(
                    'INSERT INTO "DeviceInfo" ("DeviceId", "Vendor", "Model", "FirmwareVersion", '
                    '"FirstSeen", "LastSeen", "SensorId", "Site", "ReportedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                    (f"pi-cve/d{d}", vendor, model.format(n=rng.randrange(3000)),
                     f"{rng.randrange(1, 9)}.{rng.randrange(10)}.{rng.randrange(10)}", NOW, NOW, "pi-cve", "site-c", NOW),
                )  # fmt: skip
        start = time.perf_counter()
        matched = rematch(store, cpe_map)
        indexed_s = time.perf_counter() - start
        with store.transaction() as tx:
            sample = tx.fetchall(
                'SELECT "Vendor", "Model", "FirmwareVersion" FROM "DeviceInfo" LIMIT ?',
                (naive_sample,),
            )
            parsed = [parse_configurations(json.loads(r.configurations_json)) for r in records]
            start = time.perf_counter()
            naive_hits = 0
            for vendor, model, firmware in sample:
                cpes = cpe_map.candidates(vendor, model, firmware)
                naive_hits += sum(1 for configs in parsed if evaluate(configs, cpes) is not None)
            naive_sample_s = time.perf_counter() - start
        store.close()
    naive_s = naive_sample_s * devices / max(1, len(sample))
    return {
        "cve_records": len(records),
        "cve_records_real": len(real),
        "cve_records_generated": len(records) - len(real),
        "cve_devices": devices,
        "cve_matches": matched,
        "cve_indexed_s": round(indexed_s, 3),
        "cve_naive_sample_devices": len(sample),
        "cve_naive_sample_s": round(naive_sample_s, 3),
        "cve_naive_scaled_s": round(naive_s, 1),
        "cve_speedup_vs_naive": round(naive_s / indexed_s, 1),
    }
