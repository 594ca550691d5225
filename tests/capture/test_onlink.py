"""Public addresses on the link: an undecremented TTL and one address per MAC make a device.

RFC 791 §3.2 / RFC 1812 §5.3.1 (IPv4 TTL) and RFC 8200 §3 (IPv6 hop limit): every router
decrements them, so a packet that went through one never arrives with a host's initial
value (64, 128, 255). The false positives the rule must not make are tested here: the
gateway's own public address, a NAT box forwarding LAN hosts, a router with one internet
peer, a MAC that turns out to carry several addresses.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from capture.inventory import Inventory
from capture.observation import FactValue, Flow, Observation, Role
from capture.onlink import OnLinkAddresses
from firmware.config import InventoryConfig, load_config
from firmware.inspect import inspect_file

HOST = "00:03:ba:00:00:01"
ROUTER = "00:aa:bb:cc:dd:01"
LAPTOP = "00:aa:bb:cc:dd:02"
PUBLIC = "198.51.100.7"  # documentation block: public, never local


def _udp(
    mac: str,
    src: str,
    ttl: int | None,
    at: float = 10.0,
    protocol: str = "snmp",
    dst: str = "198.51.100.99",
    **facts: FactValue,
) -> Observation:
    flow = Flow("udp", src, 161, dst, 40000, ttl=ttl)
    return Observation(
        at=at,
        mac=mac,
        ip=src,
        vlan=None,
        protocol=protocol,
        role=Role.SERVER,
        facts=facts,
        flow=flow,
    )


def _learn_lan(inv: Inventory) -> None:
    # The router answers ARP for its LAN address 192.168.1.1 (RFC 826: an on-link binding).
    flow = Flow("arp", "192.168.1.1", None, "192.168.1.30", None)
    inv.update(
        Observation(
            at=1.0, mac=ROUTER, ip="192.168.1.1", vlan=None, protocol="arp", flow=flow,
            facts={"target_ip": "192.168.1.30"},
        )
    )  # fmt: skip


@pytest.mark.parametrize("ttl", [64, 128, 255])
def test_public_sender_with_initial_ttl_and_one_address_is_a_device(ttl: int) -> None:
    inv = Inventory(InventoryConfig())
    device = inv.update(_udp(HOST, PUBLIC, ttl, sys_name="sun1"))
    assert device is not None and device.mac == HOST
    assert set(device.ips) == {PUBLIC}
    assert device.names == {"sun1": "snmp"}


@pytest.mark.parametrize("ttl", [63, 127, 254, 52, None])
def test_public_sender_with_decremented_or_unknown_ttl_stays_remote(ttl: int | None) -> None:
    inv = Inventory(InventoryConfig())
    assert inv.update(_udp(HOST, PUBLIC, ttl, sys_name="remote")) is None
    assert len(inv) == 0 and inv.ignored_remote == 1


def test_router_with_a_single_internet_peer_does_not_make_the_peer_a_device() -> None:
    # The only internet host in the capture answers through the router: its packets arrive
    # decremented (64 - 12 hops), however few remote addresses the router MAC carries.
    inv = Inventory(InventoryConfig())
    _learn_lan(inv)
    for i in range(5):
        inv.update(_udp(ROUTER, PUBLIC, 52, at=2.0 + i, protocol="http"))
    router = inv.get(ROUTER)
    assert router is not None and set(router.ips) == {"192.168.1.1"}
    assert len(inv) == 1


def test_gateways_own_public_address_is_not_bound_to_its_lan_mac() -> None:
    # The gateway's WAN address seen on the LAN side with TTL 64 (its own packet): its MAC
    # already holds 192.168.1.1, so the public address is not made its on-link address.
    inv = Inventory(InventoryConfig())
    _learn_lan(inv)
    assert inv.update(_udp(ROUTER, PUBLIC, 64, at=3.0, protocol="dns")) is None
    router = inv.get(ROUTER)
    assert router is not None and set(router.ips) == {"192.168.1.1"}
    # ...and it is refused for good, even for another packet with an initial TTL.
    assert inv.update(_udp(ROUTER, PUBLIC, 64, at=4.0, protocol="dns")) is None


def test_nat_box_forwarding_lan_hosts_loses_its_public_binding() -> None:
    # The NAT box's own packet (TTL 64) binds; then a Windows PC's packet translated to the
    # same address arrives with TTL 127 (decremented by the NAT): the address is forwarded.
    inv = Inventory(InventoryConfig())
    nat = inv.update(_udp(HOST, PUBLIC, 64, at=1.0, sys_name="nat"))
    assert nat is not None and PUBLIC in nat.ips
    assert inv.update(_udp(HOST, PUBLIC, 127, at=2.0, protocol="http", server="IIS")) is None
    assert PUBLIC not in nat.ips
    assert ("http", "server") not in nat.facts  # the PC's facts never reach the NAT box
    assert inv.update(_udp(HOST, PUBLIC, 64, at=3.0)) is None  # not bound again


def test_mac_that_sources_a_second_address_loses_its_public_binding() -> None:
    inv = Inventory(InventoryConfig())
    device = inv.update(_udp(HOST, PUBLIC, 64, at=1.0))
    assert device is not None and PUBLIC in device.ips
    # Another internet address from the same MAC: it forwards, it is a router.
    assert inv.update(_udp(HOST, "203.0.113.9", 64, at=2.0)) is None
    assert set(device.ips) == set()
    assert inv.update(_udp(HOST, PUBLIC, 64, at=3.0)) is None


def test_ipv6_host_keeps_its_global_address_next_to_its_link_local_one() -> None:
    inv = Inventory(InventoryConfig())
    inv.update(_udp(HOST, "fe80::203:baff:fe00:1", 255, protocol="icmpv6_nd"))
    device = inv.update(_udp(HOST, "2001:db8:5::7", 64, at=11.0))
    assert device is not None and "2001:db8:5::7" in device.ips


def test_on_link_table_is_bounded_and_refusals_are_counted() -> None:
    inv = Inventory(InventoryConfig(devices_max=2))
    inv.update(_udp("00:03:ba:00:00:01", "198.51.100.1", 64))
    inv.update(_udp("00:03:ba:00:00:02", "198.51.100.2", 64))
    assert inv.update(_udp("00:03:ba:00:00:03", "198.51.100.3", 64)) is None
    assert inv.dropped.get("on_link_max") == 1


def test_on_link_addresses_compare_ipv6_hosts_by_their_64() -> None:
    table = OnLinkAddresses(4)
    ip = ipaddress.ip_address("2001:db8:5::7")
    flow = Flow("udp", str(ip), 1, "2001:db8:9::1", 2, ttl=64)
    assert table.vouch(HOST, ip, flow, held={"2001:db8:5::/64", "fe80::1"})
    # A privacy address of the same host (same /64) does not contradict the binding.
    other = ipaddress.ip_address("2001:db8:5::abcd")
    assert table.contradicted(HOST, other, Flow("udp", str(other), 1, "x", 2, ttl=64)) is None
    assert table.bound(HOST) == str(ip)


def _devices(path: Path) -> dict[str | None, set[str]]:
    pipeline, failure = inspect_file(str(path), load_config())
    assert failure is None
    return {d.mac: set(d.ips) for d in pipeline.devices()}


@pytest.mark.corpus
def test_public_sip_phone_and_registrar_of_cloudshark_capture_are_devices(corpus: Path) -> None:
    # X-Lite at 200.57.7.204 (TTL 128) registers with 200.57.7.195 (TTL 255); each MAC
    # sends only its own address (tshark -T fields -e eth.src -e ip.src -e ip.ttl).
    devices = _devices(corpus / "suricata-verify/sip-body-frames__public-cloudshark-sip-s0.pcap")
    assert devices == {"00:00:00:60:dd:19": {"200.57.7.204"}, "00:03:ba:94:63:3e": {"200.57.7.195"}}


@pytest.mark.corpus
def test_public_snmp_agent_of_zeek_snmpwalk_is_a_device(corpus: Path) -> None:
    # MANIFEST.md: a walk of a Linux net-snmp agent at 138.68.10.203; both hosts TTL 64.
    devices = _devices(corpus / "zeek/snmp__snmpwalk-short.pcap")
    assert devices["04:01:3a:ef:d2:01"] == {"138.68.10.203"}
