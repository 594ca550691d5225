"""The inventory's saved state (export_state/import_state) and its lifetime (expire, eviction).

The sensor saves the inventory so a restart keeps every device, its evidence and its
classification (firmware/inventoryfile.py); these tests check the round trip on the persona
captures (real classifier, every extractor) and what happens to malformed or oversized state.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.device import DeviceRecord
from capture.inventory import Inventory
from capture.observation import Observation, Role
from capture.pipeline import Pipeline
from capture.sniffer import open_capture
from firmware import inventoryfile
from firmware.config import InventoryConfig, config_from_dict

CAPTURES = Path(__file__).resolve().parents[1] / "personas" / "captures"
DAY = 86_400.0


def persona_pipeline(names: list[str] | None = None) -> Pipeline:
    pipeline = Pipeline(config_from_dict({}), strict=True)
    for path in sorted(CAPTURES.glob("*.pcap")):
        if names is None or path.stem in names:
            for packet in open_capture(path):
                pipeline.process(packet.data, packet.at, packet.linktype, packet.vlan)
    return pipeline


def through_file(state: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The state as the daemon's file gives it back."""
    path = tmp_path / inventoryfile.FILENAME
    path.write_bytes(inventoryfile.encode(state, 1.0))
    loaded = inventoryfile.load(path)
    assert loaded is not None
    return loaded.state


def test_every_persona_device_comes_back_the_same_from_the_saved_file(tmp_path: Path) -> None:
    before = persona_pipeline()
    state = before.inventory.export_state()
    assert len(state["devices"]) >= 82  # one device per persona at least
    after = Pipeline(config_from_dict({}), strict=True)
    restored = after.inventory.import_state(through_file(state, tmp_path))
    assert restored == len(before.devices())
    assert [d.to_json() for d in after.devices()] == [d.to_json() for d in before.devices()]
    assert [d.to_state() for d in after.devices()] == [d.to_state() for d in before.devices()]
    assert after.inventory.subnets == before.inventory.subnets
    assert after.inventory.dropped == {}


def test_restored_fact_tuples_still_match_the_rules_that_read_them(tmp_path: Path) -> None:
    before = persona_pipeline(["hp-m404"])
    after = Pipeline(config_from_dict({}), strict=True)
    after.inventory.import_state(through_file(before.inventory.export_state(), tmp_path))
    device = after.inventory.get("a0:8c:fd:3a:7b:3c")
    assert device is not None
    param_lists = device.facts[("dhcp", "param_list")]
    assert param_lists and all(isinstance(v, tuple) for v in param_lists)
    # Replaying the same traffic onto the restored inventory changes no classified field and
    # makes no device new (the rules would alert a new device after the learning period).
    classification = copy.deepcopy(device.classification)
    after.drain_devices()
    for packet in open_capture(CAPTURES / "hp-m404.pcap"):
        after.process(packet.data, packet.at + DAY, packet.linktype, packet.vlan)
    assert after.inventory.drain_new() == []
    assert device.classification == classification
    assert device.last_seen == before.inventory.get(device.key).last_seen + DAY  # type: ignore[union-attr]


def test_restored_devices_are_neither_new_nor_changed() -> None:
    """The daemon exported them before saving: a boot does not send the inventory again."""
    before = persona_pipeline(["hp-m404", "axis-m3045"])
    inventory = Inventory(InventoryConfig())
    assert inventory.import_state(json.loads(json.dumps(before.inventory.export_state()))) == 2
    assert inventory.drain_new() == []
    assert inventory.drain_changed() == []
    assert inventory.by_ip("10.20.1.11") is inventory.get("a0:8c:fd:3a:7b:3c")


def test_import_needs_an_empty_inventory() -> None:
    pipeline = persona_pipeline(["hp-m404"])
    with pytest.raises(RuntimeError):
        pipeline.inventory.import_state(pipeline.inventory.export_state())


BREAKAGES = {
    "key not the MAC": lambda d: d.update(key="00:11:22:33:44:55"),
    "multicast MAC": lambda d: d.update(key="01:00:5e:00:00:01", mac="01:00:5e:00:00:01"),
    "confidence above 1": lambda d: d["classification"]["type"].__setitem__(1, 1.5),
    "unknown class field": lambda d: d["classification"].update(colour=["red", 1.0, []]),
    "port out of range": lambda d: d["services"][0].__setitem__(2, 70_000),
    "fact value an object": lambda d: d["facts"][0][2].append({"a": 1}),
    "negative time": lambda d: d.update(first_seen=-1),
    "ips not pairs": lambda d: d.update(ips={"10.20.1.11": [1.0]}),
    "vlan out of range": lambda d: d.update(vlans=[5000]),
    "not an object": lambda d: d.clear() or d.update(bogus=True),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_malformed_saved_device_is_skipped_and_counted_the_others_restored(
    breakage: str,
) -> None:
    state = persona_pipeline(["hp-m404", "axis-m3045"]).inventory.export_state()
    broken = next(d for d in state["devices"] if d["key"] == "a0:8c:fd:3a:7b:3c")
    BREAKAGES[breakage](broken)
    inventory = Inventory(InventoryConfig())
    assert inventory.import_state(state) == 1
    assert inventory.dropped == {"restore_invalid": 1}
    assert inventory.get("a0:8c:fd:3a:7b:3c") is None
    assert [d.value("vendor") for d in inventory.devices()] == ["Axis"]


def test_a_state_that_is_not_an_inventory_is_refused() -> None:
    with pytest.raises(ValueError):
        Inventory(InventoryConfig()).import_state(["not", "an", "object"])


def test_a_tighter_configuration_bounds_the_restored_inventory() -> None:
    state = persona_pipeline().inventory.export_state()
    newest = sorted(state["devices"], key=lambda d: (-d["last_seen"], d["key"]))[:5]
    inventory = Inventory(
        InventoryConfig(devices_max=5, names_per_device_max=1, values_per_fact_max=1)
    )
    assert inventory.import_state(state) == 5
    assert {d.key for d in inventory.devices()} == {d["key"] for d in newest}
    assert all(len(d.names) <= 1 for d in inventory.devices())
    assert all(len(v) <= 1 for d in inventory.devices() for v in d.facts.values())
    assert inventory.dropped["devices_max"] == len(state["devices"]) - 5


# --- lifetime -------------------------------------------------------------------------------

UNIVERSAL = "00:1b:a9:12:34:56"  # Brother (IEEE-assigned)
RANDOMISED = "da:a1:19:00:00:01"  # locally administered bit set


def seen(inventory: Inventory, mac: str, ip: str, at: float) -> DeviceRecord:
    device = inventory.update(Observation(at, mac, ip, None, "arp", Role.PEER, {}))
    assert device is not None
    return device


def test_expire_forgets_randomised_macs_after_a_week_and_others_after_90_days() -> None:
    inventory = Inventory(InventoryConfig())
    seen(inventory, UNIVERSAL, "10.0.0.5", 0.0)
    seen(inventory, RANDOMISED, "10.0.0.6", 0.0)
    assert inventory.expire(7 * DAY) == 0  # exactly the limit is not beyond it
    assert inventory.expire(7 * DAY + 1) == 1
    assert inventory.get(RANDOMISED) is None and inventory.by_ip("10.0.0.6") is None
    assert inventory.expire(90 * DAY) == 0
    assert inventory.expire(90 * DAY + 1) == 1
    assert len(inventory) == 0
    assert inventory.expired == {"randomised_idle": 1, "idle": 1}
    # A forgotten device that comes back is a new device again.
    seen(inventory, UNIVERSAL, "10.0.0.5", 91 * DAY)
    assert [d.key for d in inventory.drain_new()][-1] == UNIVERSAL


def test_at_the_bound_an_idle_randomised_mac_makes_room_first() -> None:
    inventory = Inventory(InventoryConfig(devices_max=3))
    inventory.ageing = True
    seen(inventory, UNIVERSAL, "10.0.0.5", 0.0)  # idle longest, but a real device
    seen(inventory, RANDOMISED, "10.0.0.6", 100.0)
    seen(inventory, "00:1b:a9:12:34:57", "10.0.0.7", 200.0)
    seen(inventory, "00:1b:a9:12:34:58", "10.0.0.8", 200.0 + 3600)
    assert inventory.get(RANDOMISED) is None
    assert inventory.get("00:1b:a9:12:34:58") is not None
    seen(inventory, "00:1b:a9:12:34:59", "10.0.0.9", 200.0 + 3600)
    assert inventory.get(UNIVERSAL) is None  # then the least recently seen
    assert inventory.expired == {"evicted": 2}
    assert inventory.dropped == {}


def test_at_the_bound_nothing_recently_seen_is_evicted() -> None:
    inventory = Inventory(InventoryConfig(devices_max=2))
    inventory.ageing = True
    seen(inventory, UNIVERSAL, "10.0.0.5", 0.0)
    seen(inventory, RANDOMISED, "10.0.0.6", 0.0)
    assert (
        inventory.update(Observation(3599.0, "00:1b:a9:12:34:57", "10.0.0.7", None, "arp")) is None
    )
    assert inventory.dropped == {"devices_max": 1}
    assert len(inventory) == 2


def test_a_capture_file_keeps_its_devices_at_the_bound() -> None:
    """inspect/eval (ageing off): a file's devices are never forgotten for later ones."""
    inventory = Inventory(InventoryConfig(devices_max=1))
    seen(inventory, UNIVERSAL, "10.0.0.5", 0.0)
    assert inventory.update(Observation(DAY, RANDOMISED, "10.0.0.6", None, "arp")) is None
    assert inventory.dropped == {"devices_max": 1}
    assert inventory.get(UNIVERSAL) is not None


def test_the_daemon_configuration_bounds_the_lifetimes() -> None:
    from firmware.errors import ConfigError

    with pytest.raises(ConfigError):
        config_from_dict({"inventory": {"idle_max_s": 10.0}})
    with pytest.raises(ConfigError):
        config_from_dict({"inventory": {"save_every_s": 0.0}})
    config = config_from_dict({})
    assert replace(config.inventory).randomised_idle_max_s == 7 * DAY


# --- arbitrary saved state --------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=24,
)
_GOOD = persona_pipeline(["hp-m404"]).inventory.export_state()["devices"][0]


@st.composite
def damaged_devices(draw: st.DrawFn) -> Any:
    """A real saved device with one of its parts (or the whole) replaced by arbitrary JSON."""
    device = copy.deepcopy(_GOOD)
    part = draw(st.sampled_from([*sorted(device), "(whole)"]))
    value = draw(JSON)
    if part == "(whole)":
        return value
    device[part] = value
    return device


@settings(max_examples=300, deadline=None)
@given(st.lists(damaged_devices(), max_size=4))
def test_each_saved_device_is_restored_or_counted_never_an_exception(devices: list[Any]) -> None:
    inventory = Inventory(InventoryConfig())
    restored = inventory.import_state({"devices": devices})
    assert restored == len(inventory)
    assert restored + inventory.dropped.get("restore_invalid", 0) == len(devices)
    # Whatever was restored is a working record: it exports, restores and shows again.
    again = Inventory(InventoryConfig())
    assert again.import_state(json.loads(json.dumps(inventory.export_state()))) == restored
    for device in again.devices():
        device.to_json()


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_arbitrary_subnets_gateways_or_devices_lists_are_refused_or_restored(
    subnets: Any, other: Any
) -> None:
    for state in (
        {"subnets": subnets, "gateways": other, "devices": []},
        {"subnets": [], "devices": other},
    ):
        inventory = Inventory(InventoryConfig())
        try:
            assert inventory.import_state(state) == len(inventory)
        except ValueError as exc:
            assert "not a list" in str(exc)


# --- classification changes -------------------------------------------------------------------


def test_every_classification_change_is_an_event_on_the_device() -> None:
    pipeline = persona_pipeline(["hp-m404"])
    device = pipeline.inventory.get("a0:8c:fd:3a:7b:3c")
    assert device is not None
    events = device.take_changes()
    # Each classified field got there by at least one change from null, with its evidence.
    firsts = {e["field"]: e for e in reversed(events)}
    for name in ("category", "type", "vendor", "model"):
        assert firsts[name]["before"] is None
        assert firsts[name]["evidence"]
    last = {e["field"]: e["after"] for e in events}
    assert last["type"] == device.value("type") == "printer"
    assert last["model"] == device.value("model") == "LaserJet Pro M404dn"
    assert device.changes == []


def test_the_change_log_of_a_device_is_bounded() -> None:
    pipeline = Pipeline(config_from_dict({"inventory": {"changes_per_device_max": 2}}), strict=True)
    for packet in open_capture(CAPTURES / "hp-m404.pcap"):
        pipeline.process(packet.data, packet.at, packet.linktype, packet.vlan)
    device = pipeline.inventory.get("a0:8c:fd:3a:7b:3c")
    assert device is not None and len(device.changes) == 2
    assert pipeline.inventory.dropped["changes_per_device_max"] >= 1


def test_idle_time_leaves_out_the_sensors_own_downtime() -> None:
    inventory = Inventory(InventoryConfig())
    seen(inventory, RANDOMISED, "10.0.0.6", 0.0)
    seen(inventory, UNIVERSAL, "10.0.0.5", 0.0)
    # Saved a day later, then the sensor was off for 30 days (a shelf, a long power cut).
    restored = Inventory(InventoryConfig())
    restored.import_state(json.loads(json.dumps(inventory.export_state())))
    restored.note_downtime(DAY, 31 * DAY)
    restored.note_downtime(40 * DAY, 35 * DAY)  # a clock that went backwards: no downtime
    assert restored.expire(37 * DAY) == 0  # 37 days since, 7 of them watched
    assert restored.expire(37 * DAY + 1) == 1 and restored.get(RANDOMISED) is None
    # The downtime travels with the saved inventory.
    again = Inventory(InventoryConfig())
    again.import_state(json.loads(json.dumps(restored.export_state())))
    assert again.expire(90 * DAY + 30 * DAY) == 0
    assert again.expire(90 * DAY + 30 * DAY + 1) == 1


def test_a_forgotten_device_leaves_no_address_behind_on_any_vlan() -> None:
    inventory = Inventory(InventoryConfig())
    inventory.update(Observation(0.0, UNIVERSAL, "10.0.0.5", 20, "arp"))
    inventory.update(Observation(0.0, UNIVERSAL, "10.0.0.7", None, "arp"))
    assert inventory.by_ip("10.0.0.5", 20) is not None and inventory.by_ip("10.0.0.7") is not None
    inventory.expire(91 * DAY)
    assert inventory.by_ip("10.0.0.5", 20) is None and inventory.by_ip("10.0.0.7") is None
