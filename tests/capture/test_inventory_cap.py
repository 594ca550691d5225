"""Device cap (collector `device-cap` command): devices beyond it are counted, not classified."""

from __future__ import annotations

from collections.abc import Sequence

from capture.device import DeviceRecord, FieldValue
from capture.inventory import Inventory
from capture.observation import Observation, Role
from firmware.config import InventoryConfig


class TypeEverything:
    """A stand-in classifier marking every device it sees as a printer."""

    def observe(self, device: DeviceRecord, obs: Observation) -> Sequence[object]:
        device.classification["type"] = FieldValue("printer", 1.0, ["test"])
        return ["changed"]


def obs(mac: str, at: float) -> Observation:
    return Observation(at, mac, None, None, "dhcp", Role.CLIENT, {"hostname": "x"})


def test_devices_beyond_cap_are_counted_not_classified() -> None:
    inventory = Inventory(InventoryConfig(), TypeEverything())
    inventory.classify_max = 2
    macs = [f"00:11:22:33:44:{i:02x}" for i in range(4)]
    for round_ in range(3):  # repeated observations count each device once
        for mac in macs:
            inventory.update(obs(mac, 1.0 + round_))
    typed = [d.mac for d in inventory.devices() if d.value("type") == "printer"]
    assert typed == macs[:2]
    assert len(inventory.devices()) == 4  # still tracked
    assert inventory.dropped["classify_max"] == 2


def test_no_cap_classifies_everything() -> None:
    inventory = Inventory(InventoryConfig(), TypeEverything())
    for i in range(3):
        inventory.update(obs(f"00:11:22:33:44:{i:02x}", 1.0))
    assert all(d.value("type") == "printer" for d in inventory.devices())
