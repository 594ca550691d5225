"""new-device: a device first seen after the learning period.

Input: the inventory's new-device events. Output: the alert "New device after the learning
period" (ATT&CK T1200 Hardware Additions) for a device whose first frame came
detect.learning_period_s or more after learning started (the first packet the engine saw, or
the time the daemon kept across restarts). During learning, new devices are the baseline.
"""

from __future__ import annotations

from capture.device import DeviceRecord
from capture.findings import Severity
from capture.rules.engine import Rule
from capture.rules.store import AlertSpec

SPEC = AlertSpec(
    rule_id="new-device",
    title="New device after the learning period",
    severity=Severity.LOW,
    attack_technique="T1200",
)


class NewDevice(Rule):
    def on_device_new(self, device: DeviceRecord, at: float) -> None:
        if self.engine.is_learning(at):
            return
        if device.mac is not None and int(device.mac[:2], 16) & 0x02:
            # Randomised (locally administered) MACs: phones rotate them per network and per
            # day, so each would look new; they never raise this alert (privacy, issue 7).
            return
        evidence = {
            "mac": device.mac,
            "ips": sorted(device.ips),
            "first_seen": device.first_seen,
            "learning_started_at": self.engine.learning_started_at,
            "learning_period_s": self.config.learning_period_s,
        }
        self.store.alert(SPEC, device.key, [], at, evidence)


RULES = (NewDevice,)
