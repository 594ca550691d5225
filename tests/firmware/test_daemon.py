"""Daemon: pcap replay through the pipeline into the uplink, status file, stop budget."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from firmware import daemon as daemon_module
from firmware.config import config_from_dict
from firmware.daemon import Daemon, UplinkHealth
from firmware.statefile import read_status
from uplink.batch import DeviceUpsert, HealthItem

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
