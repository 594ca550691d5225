"""HealthMonitor on a fake sysfs: carrier, idle receive counters, tx watch, clock, power."""

from __future__ import annotations

from pathlib import Path

from firmware.health import HealthMonitor
from hardware.status import Health, State, resolve


class FakeClock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


def make_sysfs(root: Path, *, carrier: str = "1", rx: int = 10, tx: int = 0) -> None:
    net = root / "sys/class/net/eth0"
    (net / "statistics").mkdir(parents=True, exist_ok=True)
    (net / "carrier").write_text(carrier + "\n")
    (net / "statistics/rx_packets").write_text(f"{rx}\n")
    (net / "statistics/tx_packets").write_text(f"{tx}\n")
    (root / "run/systemd/timesync").mkdir(parents=True, exist_ok=True)
    (root / "run/systemd/timesync/synchronized").touch()


def monitor(tmp_path: Path, clock: FakeClock) -> HealthMonitor:
    return HealthMonitor("eth0", str(tmp_path), root=str(tmp_path), clock=clock)


def test_healthy_system_resolves_ok(tmp_path: Path) -> None:
    make_sysfs(tmp_path)
    health = monitor(tmp_path, FakeClock()).sample(Health())
    assert resolve(health) == State.OK


def test_no_carrier_is_state_1(tmp_path: Path) -> None:
    make_sysfs(tmp_path, carrier="0")
    assert resolve(monitor(tmp_path, FakeClock()).sample(Health())) == State.NO_CARRIER


def test_receive_counter_idle_for_5_minutes_is_state_2(tmp_path: Path) -> None:
    make_sysfs(tmp_path, rx=10)
    clock = FakeClock()
    mon = monitor(tmp_path, clock)
    mon.sample(Health())
    clock.t += 299
    assert resolve(mon.sample(Health())) == State.OK
    clock.t += 2
    assert resolve(mon.sample(Health())) == State.NO_PACKETS
    make_sysfs(tmp_path, rx=11)  # traffic again
    assert resolve(mon.sample(Health())) == State.OK


def test_transmit_on_capture_interface_is_flagged(tmp_path: Path) -> None:
    make_sysfs(tmp_path, tx=3)
    mon = monitor(tmp_path, FakeClock())
    mon.sample(Health())
    assert not mon.tx_on_capture
    make_sysfs(tmp_path, tx=4)
    mon.sample(Health())
    assert mon.tx_on_capture


def test_unsynchronised_clock_shows_after_10_minutes(tmp_path: Path) -> None:
    make_sysfs(tmp_path)
    (tmp_path / "run/systemd/timesync/synchronized").unlink()
    clock = FakeClock()
    mon = monitor(tmp_path, clock)
    mon.sample(Health())
    clock.t += 601
    make_sysfs(tmp_path, rx=99)  # packets keep arriving; only the clock is wrong
    (tmp_path / "run/systemd/timesync/synchronized").unlink()
    health = mon.sample(Health())
    assert resolve(health) == State.CLOCK
    assert resolve(mon.sample(Health(uplink_up=False))) == State.UPLINK_DOWN


def test_under_voltage_alarm_is_state_7(tmp_path: Path) -> None:
    make_sysfs(tmp_path)
    hw = tmp_path / "sys/class/hwmon/hwmon0"
    hw.mkdir(parents=True)
    (hw / "name").write_text("rpi_volt\n")
    (hw / "in0_lcrit_alarm").write_text("1\n")
    assert resolve(monitor(tmp_path, FakeClock()).sample(Health())) == State.POWER


def test_missing_state_dir_is_a_storage_fault(tmp_path: Path) -> None:
    make_sysfs(tmp_path)
    mon = HealthMonitor("eth0", str(tmp_path / "absent"), root=str(tmp_path), clock=FakeClock())
    assert resolve(mon.sample(Health())) == State.STORAGE
