"""capture.inventory: identity, no duplicates, gateways, address-keyed merge, bounds."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from capture.device import DeviceRecord
from capture.inventory import Inventory
from capture.observation import FactValue, Flow, Observation, Role
from firmware.config import InventoryConfig

PRINTER = "00:11:22:33:44:55"
ROUTER = "00:aa:bb:cc:dd:01"
LAPTOP = "00:aa:bb:cc:dd:02"


def _obs(
    mac: str | None,
    ip: str | None,
    protocol: str = "arp",
    at: float = 100.0,
    role: Role = Role.PEER,
    vlan: int | None = None,
    flow: Flow | None = None,
    **facts: FactValue,
) -> Observation:
    return Observation(
        at=at, mac=mac, ip=ip, vlan=vlan, protocol=protocol, role=role, facts=facts, flow=flow
    )


def _dhcp_ack(client: str, ip: str, at: float) -> Observation:
    # A DHCP server at 192.168.1.1 ACKs `ip` to `client` on 192.168.1.0/24 (RFC 2131 fields).
    return _obs(
        ROUTER,
        "192.168.1.1",
        "dhcp",
        at,
        Role.SERVER,
        msg_type="ack",
        client_mac=client,
        offered_ip=ip,
        subnet_mask="255.255.255.0",
        router="192.168.1.1",
    )


def test_dhcp_renew_and_ip_change_keep_one_record_with_address_history() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(_obs(PRINTER, None, "dhcp", 10.0, Role.CLIENT, msg_type="request", hostname="prn"))
    inv.update(_dhcp_ack(PRINTER, "192.168.1.20", 10.5))
    inv.update(_obs(PRINTER, "192.168.1.20", "arp", 11.0))
    # Next day: renewal, then a new lease with another address, then a reboot (DISCOVER).
    inv.update(_obs(PRINTER, "192.168.1.20", "dhcp", 86_400.0, Role.CLIENT, msg_type="request"))
    inv.update(_dhcp_ack(PRINTER, "192.168.1.77", 90_000.0))
    inv.update(_obs(PRINTER, None, "dhcp", 95_000.0, Role.CLIENT, msg_type="discover"))
    printers = [d for d in inv.devices() if d.mac == PRINTER]
    assert len(printers) == 1
    device = printers[0]
    assert set(device.ips) == {"192.168.1.20", "192.168.1.77"}
    assert device.ips["192.168.1.77"] == [90_000.0, 90_000.0]
    assert device.names == {"prn": "dhcp"}
    assert (device.first_seen, device.last_seen) == (10.0, 95_000.0)
    assert inv.by_ip("192.168.1.77") is device


def test_dhcp_server_echo_of_client_hostname_is_not_the_servers_name() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(replace(_dhcp_ack(PRINTER, "192.168.1.20", 1.0), facts={"hostname": "prn"}))
    router = inv.get(ROUTER)
    assert router is not None and router.names == {}


def test_server_role_observation_records_service_with_banner() -> None:
    inv = Inventory(InventoryConfig())
    flow = Flow("tcp", "192.168.1.20", 23, "192.168.1.50", 40000)
    obs = _obs(PRINTER, "192.168.1.20", "telnet", 5.0, Role.SERVER, flow=flow, text="login:")
    device = inv.update(obs)
    assert device is not None
    assert device.services["tcp/23"].banner == "login:"
    assert device.services["tcp/23"].name == "telnet"
    assert device.to_json()["services"] == [
        {"proto": "tcp", "port": 23, "name": "telnet", "banner": "login:"}
    ]


def test_clock_going_backwards_keeps_first_and_last_seen_ordered() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(_obs(PRINTER, "192.168.1.20", at=500.0))
    device = inv.update(_obs(PRINTER, "192.168.1.20", at=100.0))
    assert device is not None and (device.first_seen, device.last_seen) == (100.0, 500.0)


def _learn_lan(inv: Inventory) -> None:
    inv.update(_dhcp_ack(LAPTOP, "192.168.1.30", 1.0))
    inv.update(_obs(ROUTER, "192.168.1.1", "arp", 1.0, target_ip="192.168.1.30"))


def test_router_mac_never_carries_internet_addresses_nor_makes_them_devices() -> None:
    inv = Inventory(InventoryConfig(gateway_remote_ips_min=3))
    _learn_lan(inv)
    for i in range(10):
        flow = Flow("tcp", f"203.0.113.{i}", 443, "192.168.1.30", 50000)
        inv.update(_obs(ROUTER, f"203.0.113.{i}", "http", 2.0 + i, Role.SERVER, flow=flow))
    router = inv.get(ROUTER)
    assert router is not None
    assert set(router.ips) == {"192.168.1.1"}
    assert router.services == {}  # the web servers it routes to are not its services
    assert router.is_gateway
    assert inv.gateways == [ROUTER]
    assert {d.key for d in inv.devices()} == {ROUTER, LAPTOP}
    assert inv.ignored_remote == 10


def test_router_with_private_remote_subnets_becomes_gateway_and_detaches_them() -> None:
    inv = Inventory(InventoryConfig(gateway_remote_ips_min=4))
    _learn_lan(inv)
    # Hosts of another internal subnet (10.9.0.0/16), reached through the router's MAC.
    for i in range(3):
        inv.update(_obs(ROUTER, f"10.9.0.{i + 1}", "snmp", 5.0 + i, Role.SERVER))
    router = inv.get(ROUTER)
    assert router is not None and not router.is_gateway and "10.9.0.1" in router.ips
    inv.update(_obs(ROUTER, "10.9.0.4", "snmp", 9.0, Role.SERVER))
    assert router.is_gateway
    assert set(router.ips) == {"192.168.1.1"}
    # From now on they are devices of their own, keyed vlan/ip (vlan 0: untagged).
    inv.update(_obs(ROUTER, "10.9.0.5", "snmp", 10.0, Role.SERVER, sys_name="core-sw"))
    behind = inv.get("0/10.9.0.5")
    assert behind is not None and behind.mac is None and behind.names == {"core-sw": "snmp"}
    assert set(router.ips) == {"192.168.1.1"}


def test_device_behind_gateway_is_not_merged_into_the_router() -> None:
    inv = Inventory(InventoryConfig(gateway_remote_ips_min=2))
    _learn_lan(inv)
    inv.update(_obs(None, "10.9.0.5", "snmp", 3.0, Role.SERVER))
    for i in range(3):
        inv.update(_obs(ROUTER, f"10.8.0.{i}", "http", 4.0, Role.SERVER))
    inv.update(_obs(ROUTER, "10.9.0.5", "snmp", 5.0, Role.SERVER))
    assert inv.get("0/10.9.0.5") is not None
    router = inv.get(ROUTER)
    assert router is not None and "10.9.0.5" not in router.ips


def test_address_keyed_device_merges_into_mac_record_when_arp_binds_it() -> None:
    inv = Inventory(InventoryConfig())
    flow = Flow("udp", "192.168.1.20", 161, "192.168.1.5", 40000)
    inv.update(
        _obs(None, "192.168.1.20", "snmp", 5.0, Role.SERVER, vlan=10, flow=flow, sys_name="prn")
    )
    ip_keyed = inv.get("10/192.168.1.20")
    assert ip_keyed is not None and ip_keyed.mac is None
    inv.drain_merged()
    device = inv.update(_obs(PRINTER, "192.168.1.20", "arp", 8.0, vlan=10))
    assert device is not None and device.key == PRINTER
    assert inv.get("10/192.168.1.20") is None
    assert len(inv) == 1
    assert device.names == {"prn": "snmp"}
    assert "udp/161" in device.services
    assert device.first_seen == 5.0
    assert device.protocols == {"snmp", "arp"}
    assert inv.drain_merged() == [("10/192.168.1.20", PRINTER)]
    assert inv.by_ip("192.168.1.20", 10) is device


def test_address_keyed_devices_are_per_vlan() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(_obs(None, "192.168.1.20", "snmp", vlan=10))
    inv.update(_obs(None, "192.168.1.20", "snmp", vlan=20))
    assert {d.key for d in inv.devices()} == {"10/192.168.1.20", "20/192.168.1.20"}


def test_internet_address_without_mac_is_not_a_device() -> None:
    inv = Inventory(InventoryConfig())
    assert inv.update(_obs(None, "198.51.100.7", "tls", role=Role.CLIENT)) is None
    assert len(inv) == 0


def test_devices_bound_counts_refused_devices() -> None:
    inv = Inventory(InventoryConfig(devices_max=2))
    for i in range(5):
        inv.update(_obs(f"00:00:00:00:01:{i:02x}", f"192.168.1.{i + 10}"))
    assert len(inv) == 2
    assert inv.dropped["devices_max"] == 3


def test_per_device_bounds_keep_recent_addresses_and_count_the_rest() -> None:
    config = InventoryConfig(
        ips_per_device_max=2, names_per_device_max=1, facts_per_device_max=2, values_per_fact_max=2
    )
    inv = Inventory(config)
    for i in range(4):
        inv.update(_obs(PRINTER, f"192.168.1.{i + 10}", "arp", at=float(i)))
    for name in ("a", "b", "c"):
        inv.update(_obs(PRINTER, None, "nbns", 9.0, Role.ANNOUNCER, name=name, suffix=0, x=name))
    device = inv.get(PRINTER)
    assert device is not None
    assert set(device.ips) == {"192.168.1.12", "192.168.1.13"}
    assert inv.by_ip("192.168.1.10") is None  # the evicted address is no longer indexed
    assert list(device.names) == ["a"]
    assert len(device.facts) == 2
    assert device.facts[("nbns", "name")] == ["b", "c"]
    assert inv.dropped["ips_per_device_max"] == 2
    assert inv.dropped["names_per_device_max"] == 2
    assert inv.dropped["values_per_fact_max"] == 1


def test_multicast_and_unspecified_addresses_are_ignored() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(_obs(PRINTER, "0.0.0.0", "dhcp", role=Role.CLIENT))
    inv.update(_obs("01:00:5e:00:00:fb", "224.0.0.251", "mdns"))
    assert [d.key for d in inv.devices()] == [PRINTER]
    device = inv.get(PRINTER)
    assert device is not None and device.ips == {}


def test_drain_changed_reports_new_and_changed_devices_once() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(_obs(PRINTER, "192.168.1.20"))
    assert [d.key for d in inv.drain_changed()] == [PRINTER]
    inv.update(_obs(PRINTER, "192.168.1.20", at=200.0))  # only last_seen moved
    assert inv.drain_changed() == []
    inv.update(_obs(PRINTER, "192.168.1.21", at=300.0))
    assert [d.key for d in inv.drain_changed()] == [PRINTER]


class RecordingClassifier:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def observe(self, device: DeviceRecord, obs: Observation) -> list[object]:
        self.seen.append((device.key, obs.protocol))
        return ["changed"] if obs.protocol == "lldp" else []


def test_classifier_hook_sees_every_merged_observation() -> None:
    classifier = RecordingClassifier()
    inv = Inventory(InventoryConfig(), classifier)
    inv.update(_obs(PRINTER, "192.168.1.20", "arp"))
    inv.drain_changed()
    inv.update(_obs(PRINTER, None, "lldp", role=Role.ANNOUNCER))
    assert classifier.seen == [(PRINTER, "arp"), (PRINTER, "lldp")]
    assert [d.key for d in inv.drain_changed()] == [PRINTER]  # protocol and class changed


def test_relayed_dhcp_client_with_public_address_is_kept() -> None:
    # tcpdump's dhcp-mud.pcap shape: a relayed REQUEST from chaddr b8:27:eb:..., public address.
    inv = Inventory(InventoryConfig())
    obs = _obs("b8:27:eb:b8:53:c8", "62.12.173.123", "dhcp", role=Role.CLIENT, hostname="pi")
    device = inv.update(obs)
    assert device is not None and set(device.ips) == {"62.12.173.123"}


def test_link_scope_multicast_sender_teaches_its_subnet() -> None:
    inv = Inventory(InventoryConfig())
    flow = Flow("udp", "198.18.5.9", 5353, "224.0.0.251", 5353)  # mDNS: never routed
    inv.update(_obs(PRINTER, "198.18.5.9", "mdns", role=Role.ANNOUNCER, flow=flow))
    assert inv.subnets == ["198.18.5.0/24"]
    device = inv.get(PRINTER)
    assert device is not None and set(device.ips) == {"198.18.5.9"}


def test_nbns_workgroup_and_browser_names_are_not_device_names() -> None:
    # RFC 1001/1002 names with Microsoft suffixes: 0x1d local master browser, group 0x01
    # __MSBROWSE__, 0x00 workstation (arkime/nbns.pcap shows all three).
    inv = Inventory(InventoryConfig())
    for name, suffix, group in (("WORKGROUP", 0x1D, False), ("__MSBROWSE__", 0x01, True)):
        inv.update(
            _obs(
                PRINTER,
                "192.168.1.20",
                "nbns",
                role=Role.ANNOUNCER,
                name=name,
                suffix=suffix,
                group=group,
            )
        )
    inv.update(
        _obs(
            PRINTER,
            "192.168.1.20",
            "nbns",
            role=Role.ANNOUNCER,
            name="MDJR98",
            suffix=0,
            group=False,
        )
    )
    device = inv.get(PRINTER)
    assert device is not None and list(device.names) == ["MDJR98"]


_MACS = st.sampled_from([PRINTER, ROUTER, LAPTOP, "00:00:00:00:00:00", "01:00:5e:00:00:01", None])
_IPS = st.sampled_from(
    [
        None,
        "192.168.1.20",
        "192.168.1.21",
        "10.9.0.1",
        "203.0.113.9",
        "fe80::1",
        "2001:db8::5",
        "0.0.0.0",
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            _MACS,
            _IPS,
            st.sampled_from(["arp", "dhcp", "nbns", "http", "snmp", "mdns"]),
            st.sampled_from(list(Role)),
            st.text(max_size=6),
            st.floats(0, 1e6),
        ),
        max_size=60,
    )
)
def test_any_observation_sequence_keeps_every_bound(
    events: list[tuple[str | None, str | None, str, Role, str, float]],
) -> None:
    config = InventoryConfig(
        devices_max=3,
        ips_per_device_max=2,
        names_per_device_max=2,
        services_per_device_max=2,
        facts_per_device_max=3,
        values_per_fact_max=2,
        gateway_remote_ips_min=2,
        subnets_max=2,
    )
    inv = Inventory(config)
    for mac, ip, protocol, role, text, at in events:
        flow = Flow("udp", ip, 161, "192.168.1.5", 40000) if ip else None
        inv.update(_obs(mac, ip, protocol, at, role, flow=flow, name=text, hostname=text))
    devices = inv.devices()
    assert len(devices) <= 3 and len(inv.subnets) <= 2
    for d in devices:
        assert len(d.ips) <= 2 and len(d.names) <= 2 and len(d.services) <= 2
        assert len(d.facts) <= 3 and all(len(v) <= 2 for v in d.facts.values())
        assert d.first_seen <= d.last_seen
        assert d.mac not in ("00:00:00:00:00:00", "01:00:5e:00:00:01")
        if d.is_gateway:  # a gateway keeps only its own, on-link addresses
            assert all(inv.is_local(ip) for ip in d.ips), d.ips
