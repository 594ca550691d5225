"""HealthMonitor: reads the system facts behind the status LEDs (carrier, receive counters,
clock, power, storage) and turns them into hardware.status.Health.

Everything is read from files under `root` (default "/"), so tests lay out a fake sysfs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hardware.status import Health

log = logging.getLogger(__name__)

HOT_MILLIDEGREES = 80_000
STORAGE_MIN_FREE_FRACTION = 0.02


@dataclass(slots=True)
class Counters:
    rx_packets: int | None
    tx_packets: int | None


class HealthMonitor:
    """Samples system health for the capture interface and the state directory.

    Args:
        interface: the capture (mirror) interface.
        state_dir: where the buffer lives (checked for read-only / full).
        root: filesystem root to read /sys and /run from (tests pass a temp dir).
        clock: monotonic clock for idle durations.
    """

    def __init__(
        self,
        interface: str,
        state_dir: str,
        *,
        root: str = "/",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interface = interface
        self.state_dir = state_dir
        self._root = Path(root)
        self._clock = clock
        start = clock()
        self._rx_last: int | None = None
        self._rx_changed_at = start
        self._tx_first: int | None = None
        self._unsynced_since: float | None = None
        self.tx_on_capture = False

    def sample(self, base: Health) -> Health:
        """Health with the system facts filled in over `base` (which carries the daemon's own
        facts: booting, provisioned, uplink state, buffer fill, auth failures)."""
        now = self._clock()
        counters = self.counters()
        if counters.rx_packets is not None and counters.rx_packets != self._rx_last:
            self._rx_last = counters.rx_packets
            self._rx_changed_at = now
        if counters.tx_packets is not None:
            if self._tx_first is None:
                self._tx_first = counters.tx_packets
            elif counters.tx_packets > self._tx_first and not self.tx_on_capture:
                # The sensor must never transmit on the mirror port.
                log.error("capture interface %s transmitted packets", self.interface)
                self.tx_on_capture = True
        synced = self.clock_synced()
        if synced:
            self._unsynced_since = None
        elif self._unsynced_since is None:
            self._unsynced_since = now
        return replace(
            base,
            carrier=self.carrier(),
            rx_idle_s=now - self._rx_changed_at,
            clock_synced=synced,
            clock_unsynced_s=0.0 if self._unsynced_since is None else now - self._unsynced_since,
            power_fault=self.power_fault(),
            storage_fault=base.storage_fault or self.storage_fault(),
        )

    def _net(self, name: str) -> Path:
        return self._root / "sys/class/net" / self.interface / name

    def carrier(self) -> bool:
        try:
            return self._net("carrier").read_text().strip() == "1"
        except OSError:  # EINVAL while the interface is down, ENOENT when absent
            return False

    def counters(self) -> Counters:
        return Counters(
            _read_int(self._net("statistics/rx_packets")),
            _read_int(self._net("statistics/tx_packets")),
        )

    def clock_synced(self) -> bool:
        # systemd-timesyncd touches this file once the clock is synchronised.
        return (self._root / "run/systemd/timesync/synchronized").exists()

    def power_fault(self) -> bool:
        hwmon = self._root / "sys/class/hwmon"
        if hwmon.is_dir():
            for entry in hwmon.iterdir():
                try:
                    name = (entry / "name").read_text().strip()
                except OSError:
                    continue
                # rpi_volt (Debian's kernel): in0_lcrit_alarm = 1 on under-voltage.
                if name == "rpi_volt" and _read_int(entry / "in0_lcrit_alarm") == 1:
                    return True
        temp = _read_int(self._root / "sys/class/thermal/thermal_zone0/temp")
        return temp is not None and temp >= HOT_MILLIDEGREES

    def storage_fault(self) -> bool:
        try:
            st = os.statvfs(self.state_dir)
        except OSError:
            return True
        if st.f_flag & os.ST_RDONLY:
            return True
        return st.f_blocks > 0 and st.f_bavail / st.f_blocks < STORAGE_MIN_FREE_FRACTION


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
