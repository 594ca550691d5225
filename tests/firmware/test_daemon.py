"""Daemon: pcap replay through the pipeline into the uplink, status file, stop budget."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

from capture.sniffer import open_capture
from firmware import daemon as daemon_module
from firmware import inventoryfile
from firmware.config import config_from_dict
from firmware.daemon import Daemon, UplinkHealth
from firmware.statefile import read_status
from uplink.batch import DeviceUpsert, FindingItem, HealthItem

MAC = "00:1b:a9:12:34:56"  # Brother OUI


class FakeUplink:
    """Records what the daemon stores; 'acks' everything at once when connected."""

    def __init__(self, connected: bool = True) -> None:
        self.items: list[Any] = []
        self.connected = connected
        self.flushed = threading.Event()
        self.started = self.stopped = False
        self.commands: list[Any] = []

    def start(self) -> None:
        self.started = True

    def stop(self, timeout_s: float) -> None:
        self.stopped = True

    def store(self, items: Sequence[Any]) -> None:
        self.items.extend(items)

    def flush(self) -> None:
        self.flushed.set()

    def health(self) -> UplinkHealth:
        return UplinkHealth(connected=self.connected, backlog_batches=0)

    def take_commands(self) -> list[Any]:
        commands, self.commands = self.commands, []
        return commands

    def wants_full_inventory(self) -> bool:
        return False


def dhcp_capture(path: Path) -> None:
    mac_bytes = bytes.fromhex(MAC.replace(":", ""))
    packets = []
    for i in range(3):
        pkt = (
            Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
            / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67)
            / BOOTP(chaddr=mac_bytes, xid=0x1000 + i)
            / DHCP(options=[("message-type", "request"), ("hostname", "BRN001BA9123456"), "end"])
        )
        pkt.time = 1_700_000_000 + i
        packets.append(pkt)
    wrpcap(str(path), packets)


def test_pcap_replay_reaches_the_uplink_and_exits_when_done(tmp_path: Path) -> None:
    pcap = tmp_path / "dhcp.pcap"
    dhcp_capture(pcap)
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path), "sensor_id": "bw-1", "site": "s"}}
    )
    uplink = FakeUplink()
    daemon = Daemon(config, uplink, pcap=str(pcap), exit_when_done=True)
    assert daemon.run() == 0
    assert uplink.started and uplink.stopped and uplink.flushed.is_set()
    upserts = [i for i in uplink.items if isinstance(i, DeviceUpsert)]
    assert [u.mac for u in upserts] == [MAC]
    assert "BRN001BA9123456" in upserts[0].fields["names"]
    assert any(isinstance(i, HealthItem) for i in uplink.items)
    status, _ = read_status(tmp_path)
    assert status is not None and status["state"] == "stopped"
    assert status["counters"]["packets"] == 3


def test_shutdown_request_stops_within_budget(tmp_path: Path) -> None:
    pcap = tmp_path / "dhcp.pcap"
    dhcp_capture(pcap)
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path), "sensor_id": "bw-1", "site": "s"}}
    )
    uplink = FakeUplink(connected=False)
    daemon = Daemon(config, uplink, pcap=str(pcap))
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run()), name="daemon-under-test")
    runner.start()
    assert daemon.pipeline_done.wait(10.0)
    daemon.shutdown.set()
    runner.join(10.0)
    assert not runner.is_alive()
    assert uplink.stopped


def test_reload_keeps_old_config_when_new_one_is_bad_and_returns_reload_when_good(
    tmp_path: Path,
) -> None:
    from firmware.daemon import RELOAD
    from firmware.errors import ConfigError

    pcap = tmp_path / "dhcp.pcap"
    dhcp_capture(pcap)
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path), "sensor_id": "bw-1", "site": "s"}}
    )
    good = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path), "sensor_id": "bw-2", "site": "s"}}
    )
    answers: list[Any] = [
        ConfigError([("capture.snaplen", 1, "must be between 96 and 65535")]),
        good,
    ]
    tried = threading.Event()

    def loader() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            tried.set()
            raise answer
        return answer

    daemon = Daemon(config, FakeUplink(), pcap=str(pcap), config_loader=loader)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run()), name="daemon-under-test")
    runner.start()
    daemon.reload.set()
    assert tried.wait(10.0)
    assert runner.is_alive()  # the bad configuration did not stop it
    daemon.reload.set()
    runner.join(10.0)
    assert result == [RELOAD] and daemon.new_config == good


def test_a_silent_capture_interface_keeps_the_capture_worker_beating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror port with no traffic (unplugged, a quiet night): the live source's idle polls
    are the capture worker's heartbeat. Before, the worker beat only per packet, the watchdog
    gate closed after 10 s and systemd killed the sensor 30 s later (seen booting the image
    under qemu-system-aarch64, whose capture NIC is silent)."""

    class SilentSource:
        def __init__(self, *args: Any, on_idle: Any = None, **kwargs: Any) -> None:
            self.on_idle = on_idle
            self.stopped = threading.Event()

        def open(self) -> None:
            pass

        def stop(self) -> None:
            self.stopped.set()

        def __iter__(self) -> Any:
            while not self.stopped.wait(0.01):
                self.on_idle()
            yield from ()

    monkeypatch.setattr(daemon_module, "LiveSource", SilentSource)
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path), "sensor_id": "bw-1", "site": "s"}}
    )
    daemon = Daemon(config, FakeUplink())
    beats = threading.Semaphore(0)
    stop = threading.Event()
    worker = threading.Thread(
        target=daemon.capture_worker, args=(stop, beats.release), name="capture-under-test"
    )
    worker.start()
    try:
        for _ in range(5):
            assert beats.acquire(timeout=10)
    finally:
        stop.set()
        if daemon.live is not None:
            daemon.live.stop()
        worker.join(timeout=5)
    assert not worker.is_alive()


# --- the saved inventory across restarts ----------------------------------------------------

PERSONA = Path(__file__).resolve().parents[1] / "personas" / "captures" / "hp-m404.pcap"
PRINTER = "a0:8c:fd:3a:7b:3c"  # the persona's HP LaserJet Pro M404dn (tests/personas)


def arp_only_capture(path: Path, at: float) -> None:
    """A day later the printer only answers ARP: no DHCP, no mDNS, no banner."""
    reply = Ether(src=PRINTER, dst="00:11:22:33:44:55") / ARP(
        op=2, hwsrc=PRINTER, psrc="10.20.1.11", hwdst="00:11:22:33:44:55", pdst="10.20.1.1"
    )
    reply.time = at
    wrpcap(str(path), [reply])


def replay(tmp_path: Path, pcap: Path, *, keep: bool) -> FakeUplink:
    config = config_from_dict(
        {
            "sensor": {"state_dir": str(tmp_path / "state"), "sensor_id": "bw-1", "site": "s"},
            "detect": {"learning_period_s": 0.0},  # every device new to the rules is alerted
        }
    )
    uplink = FakeUplink()
    daemon = Daemon(config, uplink, pcap=str(pcap), exit_when_done=True, keep_inventory=keep)
    assert daemon.run() == 0
    return uplink


def printer_upserts(uplink: FakeUplink) -> list[DeviceUpsert]:
    return [i for i in uplink.items if isinstance(i, DeviceUpsert) and i.mac == PRINTER]


def new_device_alerts(uplink: FakeUplink) -> list[FindingItem]:
    return [
        i for i in uplink.items if isinstance(i, FindingItem) and i.finding.rule_id == "new-device"
    ]


@pytest.mark.parametrize("keep", [True, False])
def test_a_restart_neither_unclassifies_a_device_nor_makes_it_new(
    tmp_path: Path, keep: bool
) -> None:
    first = replay(tmp_path, PERSONA, keep=keep)
    [upsert] = printer_upserts(first)
    assert (upsert.fields["type"], upsert.fields["vendor"], upsert.fields["model"]) == (
        "printer",
        "HP",
        "LaserJet Pro M404dn",  # the persona's label (tests/personas/labels.json)
    )
    assert len(new_device_alerts(first)) == 1
    arp = tmp_path / "arp.pcap"
    arp_only_capture(arp, 1_767_225_611.0 + 86_400)
    second = replay(tmp_path, arp, keep=keep)
    [again] = printer_upserts(second)
    if keep:
        # The restored record goes out in full, as classified before the restart.
        assert again.full
        assert again.fields["model"] == "LaserJet Pro M404dn"
        assert again.fields["type"] == "printer"
        assert again.fields["names"] == ["NPI3A7B3C", "NPI3A7B3C.local"]
        assert again.fields["first_seen"] == 1_767_225_610.0
        # No new alert: the first run's one, restored, is only closed now that it is quiet.
        [first_alert] = new_device_alerts(first)
        assert [(i.finding.dedup_key, i.finding.status) for i in new_device_alerts(second)] == [
            (first_alert.finding.dedup_key, "closed")
        ]
        assert (tmp_path / "state" / "inventory.json.gz").stat().st_mode & 0o777 == 0o600
    else:
        # What a sensor did before the inventory was saved: the ARP-only printer is new
        # again and goes upstream with its OUI vendor alone (the collector lost the model).
        assert again.fields["model"] is None and again.fields["type"] is None
        assert len(new_device_alerts(second)) == 1
        assert not (tmp_path / "state" / "inventory.json.gz").exists()


def test_an_unreadable_saved_inventory_is_moved_aside_and_the_sensor_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "inventory.json.gz").write_bytes(b"\x1f\x8b\x08\x00 cut short")
    uplink = replay(tmp_path, PERSONA, keep=True)
    assert "saved inventory unreadable" in caplog.text
    assert (state / "inventory.json.gz.bad").read_bytes() == b"\x1f\x8b\x08\x00 cut short"
    [upsert] = printer_upserts(uplink)
    assert upsert.fields["model"] == "LaserJet Pro M404dn"
    # The run saved a good inventory in its place.
    saved = inventoryfile.load(state / "inventory.json.gz")
    assert saved is not None
    assert [d["key"] for d in saved.state["devices"]] == [PRINTER]


def test_an_inventory_that_cannot_be_saved_is_counted_and_capture_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path / "state"), "sensor_id": "bw-1", "site": "s"}}
    )
    daemon = Daemon(config, FakeUplink(), pcap=str(PERSONA), keep_inventory=True)
    for packet in open_capture(PERSONA):
        daemon.pipeline.process(packet.data, packet.at, packet.linktype, packet.vlan)
    # A fact value JSON cannot hold (no extractor emits one): the save fails, it is counted.
    device = daemon.pipeline.inventory.get(PRINTER)
    assert device is not None
    device.facts[("http", "server")].append(b"bytes")
    daemon._save_inventory()
    assert daemon.counters()["inventory_save_failures"] == 1
    assert "cannot save the inventory" in caplog.text
    assert not (tmp_path / "state" / "inventory.json.gz").exists()


def test_open_findings_are_saved_with_the_inventory_and_restored(tmp_path: Path) -> None:
    from tests.personas.scenario import NVR, risk_packets

    pcap = tmp_path / "risk.pcap"
    wrpcap(str(pcap), risk_packets(1_767_300_000.0))
    first = replay(tmp_path, pcap, keep=True)
    sent = {
        (i.finding.rule_id, i.finding.devices[0]) for i in first.items if isinstance(i, FindingItem)
    }
    assert ("telnet-enabled", NVR[0]) in sent
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path / "state"), "sensor_id": "bw-1", "site": "s"}}
    )
    restarted = Daemon(config, FakeUplink(), pcap=str(pcap), keep_inventory=True)
    restored = {(f.rule_id, f.devices[0]) for f in restarted.pipeline.findings()}
    assert ("telnet-enabled", NVR[0]) in restored
    assert restored <= sent
    assert restarted.pipeline.drain_findings() == []  # the collector has them already


def test_a_restore_after_months_off_does_not_expire_what_the_sensor_did_not_watch(
    tmp_path: Path,
) -> None:
    config = config_from_dict(
        {"sensor": {"state_dir": str(tmp_path / "state"), "sensor_id": "bw-1", "site": "s"}}
    )
    seen_last = 1_767_225_611.0  # the persona's last packet
    first = Daemon(config, FakeUplink(), pcap=str(PERSONA), exit_when_done=True,
                   keep_inventory=True, now=lambda: seen_last + 86_400)  # fmt: skip
    assert first.run() == 0
    back = seen_last + 201 * 86_400  # switched off for 200 days after the save
    restarted = Daemon(config, FakeUplink(), pcap=str(PERSONA), keep_inventory=True,
                       now=lambda: back)  # fmt: skip
    restarted.pipeline.expire(back)
    assert restarted.pipeline.inventory.get(PRINTER) is not None  # 1 watched day idle, not 201
    restarted.pipeline.expire(back + 90 * 86_400)
    assert restarted.pipeline.inventory.get(PRINTER) is None  # then 91 watched days
