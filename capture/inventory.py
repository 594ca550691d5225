"""Inventory: owns the DeviceRecords; merges Observations into them (bounded).

Input: Observation. Output: the DeviceRecord it updated (or None when it names no device).

Identity is the MAC on the local segment. A device seen only by address (raw-IP captures,
devices behind a router) is keyed "vlan/ip" (vlan 0 when untagged) and merged into the MAC
record as soon as an observation binds that address to a MAC. Local subnets are learned from
DHCP (mask + address), ARP (the /24 around on-link addresses) and IPv6 neighbour discovery
(the /64 of on-link addresses); a MAC that sources `gateway_remote_ips_min` addresses outside
them is a gateway: its remote addresses are detached and never attached again, and remote
public addresses never become devices, unless a packet proves its public sender on the link
(undecremented TTL, the MAC's only address: capture/onlink.py). Every collection is bounded by config inventory.*;
what a bound refuses is counted in `dropped[limit]`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from capture.device import DeviceRecord, Service
from capture.observation import Observation, Role
from capture.onlink import OnLinkAddresses
from firmware.config import InventoryConfig

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (protocol, fact) that name the observed device itself, and the roles in which they do
# (a NBNS/LLMNR query names someone else; a DHCP server's ACK echoes the client's hostname).
_NAME_FACTS: dict[tuple[str, str], frozenset[Role]] = {
    ("dhcp", "hostname"): frozenset({Role.CLIENT}),
    ("dhcp", "fqdn"): frozenset({Role.CLIENT}),
    ("dhcpv6", "fqdn"): frozenset({Role.CLIENT}),
    ("nbns", "name"): frozenset({Role.ANNOUNCER, Role.SERVER}),
    ("browser", "name"): frozenset({Role.ANNOUNCER}),
    ("llmnr", "name"): frozenset({Role.ANNOUNCER, Role.SERVER}),
    ("mdns", "hostnames"): frozenset({Role.ANNOUNCER, Role.SERVER}),
    ("lldp", "system_name"): frozenset({Role.ANNOUNCER}),
    ("cdp", "device_id"): frozenset({Role.ANNOUNCER}),
    ("snmp", "sys_name"): frozenset({Role.SERVER}),
    ("tivo", "machine"): frozenset({Role.ANNOUNCER}),
}
# Facts that make a good service banner, in order of preference.
_BANNER_FACTS = ("server", "text", "sys_descr", "make_and_model")
_BANNER_FACTS_BY_PROTOCOL = {"rfb": ("version",)}
# Protocols whose observation proves the address is on the local link.
_ON_LINK_V4 = frozenset({"arp"})
_ON_LINK_V6 = frozenset({"icmpv6_nd"})
# Protocols whose observed MAC comes from the message itself (DHCP chaddr, ARP sender
# hardware address, LLDP/CDP frames never routed): their MAC-address binding holds even for an
# address outside the learned subnets (a relayed DHCP client, a public LAN).
_MAC_IN_MESSAGE = frozenset({"dhcp", "arp", "lldp", "cdp", "icmpv6_nd"})
# Link-scope destinations: a sender of a packet to them is on the link (routers do not
# forward them), so its address teaches the local subnet.
_LINK_SCOPE_V4 = ipaddress.ip_network("224.0.0.0/24")
# The pipeline's fact-less observation of a source no extractor read (capture/pipeline.py):
# it places the device, but names no protocol the device was seen to speak.
PRESENCE = "ip"
_DOWNTIME_MAX = 64  # sensor restarts whose downtime is remembered
_ARP_PREFIX = 24  # ARP gives no mask: assume the /24 around an on-link address
_ND_PREFIX = 64  # RFC 4291 §2.5.4: global unicast interface identifiers are 64 bits


class DeviceClassifier(Protocol):
    """What the inventory needs of capture.classify.Classifier."""

    def observe(self, device: DeviceRecord, obs: Observation) -> Sequence[object]: ...


class Inventory:
    """One DeviceRecord per device, with bounded collections and counted drops."""

    def __init__(self, config: InventoryConfig, classifier: DeviceClassifier | None = None) -> None:
        self.config = config
        self.classifier = classifier
        # Licence-style quota (collector `device-cap` command): devices beyond the first
        # `classify_max` tracked are counted (dropped["classify_max"]), not classified.
        self.classify_max: int | None = None
        self._classified: set[str] = set()
        self._unclassified: set[str] = set()
        self.dropped: dict[str, int] = {}
        self.ignored_remote = 0  # observations of remote (internet) addresses, not devices
        self.expired: dict[str, int] = {}  # reason -> devices forgotten (expire, eviction)
        # Live sensors (the daemon) forget long-idle devices to make room at devices_max; a
        # capture file keeps every device it showed until the bound, then counts the rest.
        self.ageing = False
        self._downtime: list[tuple[float, float]] = []  # (saved_at, resumed_at) gaps, bounded
        self._devices: dict[str, DeviceRecord] = {}
        self._by_ip: dict[tuple[int, str], str] = {}  # (vlan, ip) -> key of its holder
        self._subnets: list[IPNetwork] = []
        self._remote: dict[str, set[str]] = {}  # mac -> remote addresses/prefixes seen (bounded)
        self._on_link = OnLinkAddresses(config.devices_max)
        self._changed: set[str] = set()
        self._merged: list[tuple[str, str]] = []  # (ip-keyed key, mac key) merged since drain
        self._new: list[str] = []  # keys created since drain_new (the pipeline drains per packet)

    # --- accessors ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._devices)

    def get(self, key: str) -> DeviceRecord | None:
        """The device keyed `key` (a MAC or "vlan/ip")."""
        return self._devices.get(key)

    def by_ip(self, ip: str, vlan: int | None = None) -> DeviceRecord | None:
        """The device currently holding `ip` on `vlan`."""
        key = self._by_ip.get((vlan or 0, ip))
        return self._devices.get(key) if key is not None else None

    def devices(self) -> list[DeviceRecord]:
        """Every device, in a deterministic order: first seen, then key."""
        return sorted(self._devices.values(), key=lambda d: (d.first_seen, d.key))

    def __iter__(self) -> Iterator[DeviceRecord]:
        return iter(self.devices())

    def is_local(self, ip: str) -> bool:
        """True when `ip` is in a learned local subnet (or site-local before any is learned)."""
        addr = _usable_ip(ip)
        return addr is not None and self._is_local(addr)

    @property
    def subnets(self) -> list[str]:
        return [str(net) for net in self._subnets]

    @property
    def gateways(self) -> list[str]:
        return sorted(d.key for d in self._devices.values() if d.is_gateway)

    def drain_changed(self) -> list[DeviceRecord]:
        """Devices created or changed (addresses, names, services, class) since last drain."""
        keys, self._changed = self._changed, set()
        out = [self._devices[k] for k in keys if k in self._devices]
        return sorted(out, key=lambda d: (d.first_seen, d.key))

    def drain_new(self) -> list[DeviceRecord]:
        """Devices created since the last call (for the new-device rules)."""
        keys, self._new = self._new, []
        return [self._devices[k] for k in keys if k in self._devices]

    def drain_merged(self) -> list[tuple[str, str]]:
        """(old "vlan/ip" key, MAC key) pairs merged since the last drain."""
        merged, self._merged = self._merged, []
        return merged

    # --- updates ------------------------------------------------------------------------

    def touch(self, mac: str | None, at: float) -> None:
        """A known device was seen again (a de-duplicated repeat): only last_seen moves."""
        device = self._devices.get(mac) if mac else None
        if device is not None:
            device.last_seen = max(device.last_seen, at)

    def update(self, obs: Observation) -> DeviceRecord | None:
        """Merge one observation; the device it updated, or None (remote host, bound hit)."""
        ip = _usable_ip(obs.ip)
        vlan = obs.vlan or 0
        mac = obs.mac if obs.mac and _is_unicast_mac(obs.mac) else None
        if ip is not None:
            self._learn_subnets(obs, ip)
        local = ip is None or self._is_local(ip)
        through_router = False
        if mac is not None and ip is not None:
            withdrawn = self._on_link.contradicted(mac, ip, obs.flow)
            if withdrawn is not None:
                self._withdraw(mac, withdrawn)
        if mac is not None and ip is not None and not local:
            held = self._held(mac)
            self._count_remote(mac, ip)
            # A public address outside the local subnets behind a MAC is a host reached
            # through that MAC (a router), never the MAC's own: see the module docstring.
            # Protocols that carry the sender's MAC in the message bind it whatever the address,
            # and so does a packet proving its sender on the link (capture/onlink.py).
            through_router = obs.protocol not in _MAC_IN_MESSAGE and (
                not _is_private(ip) or self._is_gateway(mac)
            )
            if through_router and not _is_private(ip) and not self._is_gateway(mac):
                refused = self._on_link.refused_full
                through_router = not self._on_link.vouch(mac, ip, obs.flow, held)
                if self._on_link.refused_full != refused:
                    self._drop("on_link_max")
        device: DeviceRecord | None
        if mac is not None and not through_router:
            device = self._mac_device(mac, obs.at)
        elif ip is not None:
            if not local and not _is_private(ip):
                self.ignored_remote += 1
                return None  # an internet host seen through the gateway: not a device
            key = self._by_ip.get((vlan, str(ip)))
            device = self._devices.get(key) if key else None
            if device is None:
                device = self._new_device(f"{vlan}/{ip}", None, obs.at)
        else:
            return None
        if device is None:
            return None
        self._merge(device, obs, ip, vlan, local)
        if obs.protocol == "dhcp" and obs.facts.get("msg_type") == "ack":
            self._bind_lease(obs, vlan)
        return device

    def _bind_lease(self, obs: Observation, vlan: int) -> None:
        """A DHCP ACK binds the leased address to the client's MAC (RFC 2131 §3.1 step 5)."""
        mac = _text(obs.facts.get("client_mac"))
        ip = _usable_ip(_text(obs.facts.get("offered_ip")))
        if mac is None or ip is None or not _is_unicast_mac(mac) or self._is_gateway(mac):
            return
        client = self._mac_device(mac, obs.at)
        if client is not None:
            client.last_seen = max(client.last_seen, obs.at)
            local = self._is_local(ip)
            if self._add_ip(client, str(ip), vlan, obs.at, absorb=local):
                self._changed.add(client.key)

    def _mac_device(self, mac: str, at: float) -> DeviceRecord | None:
        device = self._devices.get(mac)
        if device is None:
            device = self._new_device(mac, mac, at)
            if device is not None:
                device.is_gateway = self._is_gateway(mac)
        return device

    def _new_device(self, key: str, mac: str | None, at: float) -> DeviceRecord | None:
        if len(self._devices) >= self.config.devices_max and not (
            self.ageing and self._evict_for(at)
        ):
            self._drop("devices_max")
            return None
        device = DeviceRecord(key=key, mac=mac, first_seen=at, last_seen=at)
        self._devices[key] = device
        self._changed.add(key)
        if len(self._new) < self.config.devices_max:
            self._new.append(key)
        return device

    def _merge(
        self, device: DeviceRecord, obs: Observation, ip: IPAddress | None, vlan: int, local: bool
    ) -> None:
        changed = False
        at = obs.at
        device.first_seen = min(device.first_seen, at)
        device.last_seen = max(device.last_seen, at)
        if obs.vlan is not None and obs.vlan not in device.vlans:
            device.vlans.add(obs.vlan)
            changed = True
        if ip is not None and (not device.is_gateway or self._is_local(ip)):
            changed |= self._add_ip(device, str(ip), vlan, at, absorb=local)
        if obs.protocol not in device.protocols and obs.protocol != PRESENCE:
            device.protocols.add(obs.protocol)
            changed = True
        changed |= self._add_names(device, obs)
        if obs.role is Role.SERVER:
            changed |= self._add_service(device, obs)
        self._add_facts(device, obs)
        if self.classifier is not None and self._may_classify(device):
            changes = self.classifier.observe(device, obs)
            if changes:
                changed = True
                self._record_changes(device, changes, at)
        if changed:
            self._changed.add(device.key)

    def _record_changes(self, device: DeviceRecord, changes: Sequence[object], at: float) -> None:
        """Every classification change is an event (before, after, confidence, evidence) kept
        on the device until the exporter takes it; the oldest go beyond the bound."""
        limit = self.config.changes_per_device_max
        for change in changes:
            device.changes.append(
                {
                    "at": at,
                    "field": getattr(change, "field", ""),
                    "before": getattr(change, "before", None),
                    "after": getattr(change, "after", None),
                    "confidence": round(float(getattr(change, "confidence", 0.0)), 3),
                    "evidence": list(getattr(change, "evidence", ())),
                }
            )
        if len(device.changes) > limit:
            del device.changes[: len(device.changes) - limit]
            self._drop("changes_per_device_max")

    def _may_classify(self, device: DeviceRecord) -> bool:
        if self.classify_max is None or device.key in self._classified:
            return True
        if len(self._classified) >= self.classify_max:
            if device.key not in self._unclassified:  # count devices, not observations
                self._unclassified.add(device.key)
                self._drop("classify_max")
            return False
        self._classified.add(device.key)
        return True

    def _add_ip(self, device: DeviceRecord, ip: str, vlan: int, at: float, *, absorb: bool) -> bool:
        index_key = (vlan, ip)
        holder = self._by_ip.get(index_key)
        # Only an on-link address binds an address-keyed record to a MAC: a router's MAC
        # carries the addresses of the hosts behind it.
        if absorb and holder is not None and holder != device.key:
            other = self._devices.get(holder)
            if other is not None and other.mac is None and device.mac is not None:
                self._absorb(device, other)
        self._by_ip[index_key] = device.key
        seen = device.ips.get(ip)
        if seen is not None:
            seen[0] = min(seen[0], at)
            seen[1] = max(seen[1], at)
            return False
        if len(device.ips) >= self.config.ips_per_device_max:
            # Keep the addresses seen most recently: the oldest one leaves the history.
            oldest = min(device.ips, key=lambda a: device.ips[a][1])
            del device.ips[oldest]
            self._unindex(device.key, oldest)
            self._drop("ips_per_device_max")
        device.ips[ip] = [at, at]
        return True

    def _absorb(self, device: DeviceRecord, other: DeviceRecord) -> None:
        """Merge the address-keyed record `other` into the MAC record `device`."""
        del self._devices[other.key]
        self._changed.discard(other.key)
        if len(self._merged) >= self.config.devices_max:
            del self._merged[0]  # nobody drains them (inspect): keep the latest
            self._drop("merged_undrained")
        self._merged.append((other.key, device.key))
        device.first_seen = min(device.first_seen, other.first_seen)
        device.last_seen = max(device.last_seen, other.last_seen)
        device.vlans |= other.vlans
        device.protocols |= other.protocols
        for ip, (first, last) in other.ips.items():
            mine = device.ips.get(ip)
            if mine is not None:
                mine[0], mine[1] = min(mine[0], first), max(mine[1], last)
            elif len(device.ips) < self.config.ips_per_device_max:
                device.ips[ip] = [first, last]
            else:
                self._drop("ips_per_device_max")
        for index_key, holder in list(self._by_ip.items()):
            if holder == other.key:
                if index_key[1] in device.ips:
                    self._by_ip[index_key] = device.key
                else:
                    del self._by_ip[index_key]
        for name, source in other.names.items():
            if len(device.names) < self.config.names_per_device_max:
                device.names.setdefault(name, source)
        for skey, service in other.services.items():
            if len(device.services) < self.config.services_per_device_max:
                device.services.setdefault(skey, service)
        for fkey, values in other.facts.items():
            for value in values:
                self._add_fact_value(device, fkey, value)
        for field_name, value in other.classification.items():
            device.classification.setdefault(field_name, value)
        if other.changes:  # an address-keyed record is never sent: its events go with the MAC's
            device.changes[:0] = other.changes
            del device.changes[: max(0, len(device.changes) - self.config.changes_per_device_max)]
        self._changed.add(device.key)
        log.debug("merged %s into %s", other.key, device.key)

    def _unindex(self, key: str, ip: str) -> None:
        for index_key in [k for k, v in self._by_ip.items() if v == key and k[1] == ip]:
            del self._by_ip[index_key]

    def _add_names(self, device: DeviceRecord, obs: Observation) -> bool:
        if obs.protocol == "nbns" and not _is_nbns_host_name(obs):
            return False
        changed = False
        for fact, value in obs.facts.items():
            roles = _NAME_FACTS.get((obs.protocol, fact))
            if roles is None or obs.role not in roles:
                continue
            for name in value if isinstance(value, tuple) else (value,):
                if not isinstance(name, str):
                    continue
                name = name.strip().rstrip(".")
                if not name or name in device.names:
                    continue
                if len(device.names) >= self.config.names_per_device_max:
                    self._drop("names_per_device_max")
                    continue
                device.names[name] = obs.protocol
                changed = True
        return changed

    def _add_service(self, device: DeviceRecord, obs: Observation) -> bool:
        port, proto = _service_port(obs)
        if port is None:
            return False
        key = f"{proto}/{port}"
        keys = _BANNER_FACTS_BY_PROTOCOL.get(obs.protocol, _BANNER_FACTS)
        banner = next((str(obs.facts[k]) for k in keys if isinstance(obs.facts.get(k), str)), "")
        name = "" if obs.protocol == "tcp_syn" else obs.protocol
        service = device.services.get(key)
        if service is None:
            if len(device.services) >= self.config.services_per_device_max:
                self._drop("services_per_device_max")
                return False
            device.services[key] = Service(proto, port, name, banner, obs.at, obs.at)
            return True
        service.first_seen = min(service.first_seen, obs.at)
        service.last_seen = max(service.last_seen, obs.at)
        changed = False
        if name and not service.name:
            service.name, changed = name, True
        if banner and banner != service.banner:
            service.banner, changed = banner, True
        return changed

    def _add_facts(self, device: DeviceRecord, obs: Observation) -> None:
        for fact, value in obs.facts.items():
            if value is not None:
                self._add_fact_value(device, (obs.protocol, fact), value)

    def _add_fact_value(self, device: DeviceRecord, key: tuple[str, str], value: Any) -> None:
        values = device.facts.get(key)
        if values is None:
            if len(device.facts) >= self.config.facts_per_device_max:
                self._drop("facts_per_device_max")
                return
            device.facts[key] = [value]
            return
        if value in values:
            if values[-1] != value:  # most recent last
                values.remove(value)
                values.append(value)
            return
        if len(values) >= self.config.values_per_fact_max:
            del values[0]
            self._drop("values_per_fact_max")
        values.append(value)

    # --- lifetime: expiry, eviction, saved state ------------------------------------------

    def expire(self, now: float) -> int:
        """Forget devices idle longer than inventory.idle_max_s (randomised MACs:
        randomised_idle_max_s); the number forgotten. A device that comes back is new again.
        Idle time counts only while the sensor watched: the downtime between a saved
        inventory and its restore (note_downtime) is left out, so a sensor switched off for
        a month does not forget every device it comes back to."""
        cfg = self.config
        gone = [
            d.key
            for d in self._devices.values()
            if self._idle(d.last_seen, now)
            > (cfg.randomised_idle_max_s if _is_randomised(d) else cfg.idle_max_s)
        ]
        for key in gone:
            reason = "randomised_idle" if _is_randomised(self._devices[key]) else "idle"
            self._forget(key, reason)
        return len(gone)

    def note_downtime(self, saved_at: float, resumed_at: float) -> None:
        """The sensor did not watch from `saved_at` (its inventory was saved) to `resumed_at`
        (it was restored). Ignored when the clock went backwards (not yet synchronised)."""
        if resumed_at <= saved_at:
            return
        self._downtime.append((saved_at, resumed_at))
        if len(self._downtime) > _DOWNTIME_MAX:
            del self._downtime[0]  # the oldest gap only matters to devices idle since then

    def _idle(self, last_seen: float, now: float) -> float:
        unwatched = sum(
            max(0.0, min(end, now) - max(start, last_seen)) for start, end in self._downtime
        )
        return now - last_seen - unwatched

    def _evict_for(self, at: float) -> bool:
        """Make room at devices_max: forget the least recently seen device idle for at least
        inventory.evict_idle_min_s, randomised MACs first; False when none is that idle."""
        idle_min = self.config.evict_idle_min_s
        victim: DeviceRecord | None = None
        for device in self._devices.values():
            if self._idle(device.last_seen, at) < idle_min:
                continue
            if victim is None or (not _is_randomised(device), device.last_seen, device.key) < (
                not _is_randomised(victim),
                victim.last_seen,
                victim.key,
            ):
                victim = device
        if victim is None:
            return False
        self._forget(victim.key, "evicted")
        return True

    def _forget(self, key: str, reason: str) -> None:
        device = self._devices.pop(key)
        for ip in device.ips:  # the index's vlan is the frame's, 0 when untagged
            for vlan in device.vlans | {0}:
                if self._by_ip.get((vlan, ip)) == key:
                    del self._by_ip[(vlan, ip)]
        self._changed.discard(key)
        self._classified.discard(key)
        self._unclassified.discard(key)
        if device.mac is not None:
            self._remote.pop(device.mac, None)
        self.expired[reason] = self.expired.get(reason, 0) + 1
        log.debug("forgot device %s (%s)", key, reason)

    def export_state(self) -> dict[str, Any]:
        """What a restarted sensor needs to carry on (firmware/inventoryfile.py saves it):
        every device with its facts and classification, the learned subnets, the gateways."""
        return {
            "subnets": [str(net) for net in self._subnets],
            "downtime": [list(gap) for gap in self._downtime],
            "gateways": {
                mac: sorted(seen) for mac, seen in self._remote.items() if self._is_gateway(mac)
            },
            "devices": [device.to_state() for device in self.devices()],
        }

    def import_state(self, state: Any) -> int:
        """Load what export_state wrote into this (empty) inventory; the number of devices
        restored. Malformed parts are skipped and counted in dropped["restore_invalid"], the
        bounds apply as to live traffic (most recently seen devices first). Restored devices
        are neither new nor changed: the daemon exports before it saves, so the collector
        already has what the file holds (a branch link is too slow to send it all again at
        every boot); a restored device's next change goes out in full."""
        if self._devices:
            raise RuntimeError("import_state needs an empty inventory")
        if not isinstance(state, dict):
            raise ValueError("inventory state: not an object")
        subnets, entries = state.get("subnets") or [], state.get("devices") or []
        if not isinstance(subnets, list) or not isinstance(entries, list):
            raise ValueError("inventory state: subnets or devices not a list")
        for text in subnets:
            try:
                self._add_subnet(ipaddress.ip_network(str(text), strict=True))
            except ValueError:
                self._drop("restore_invalid")
        for gap in state.get("downtime") or []:
            if (
                isinstance(gap, list)
                and len(gap) == 2
                and all(isinstance(t, int | float) and not isinstance(t, bool) for t in gap)
            ):
                self.note_downtime(float(gap[0]), float(gap[1]))
            else:
                self._drop("restore_invalid")
        gateways = state.get("gateways")
        devices: list[DeviceRecord] = []
        for entry in entries:
            try:
                device = DeviceRecord.from_state(entry)
                _check_identity(device)
            except ValueError as exc:
                self._drop("restore_invalid")
                log.debug("saved device skipped: %s", exc)
                continue
            devices.append(device)
        devices.sort(key=lambda d: (-d.last_seen, d.key))
        for device in devices:
            if device.key in self._devices:
                self._drop("restore_invalid")
                continue
            if len(self._devices) >= self.config.devices_max:
                self._drop("devices_max")
                continue
            self._bound(device)
            self._devices[device.key] = device
            if device.mac is not None and isinstance(gateways, dict):
                tokens = gateways.get(device.mac)
                if device.is_gateway and isinstance(tokens, list):
                    seen = {t for t in tokens if isinstance(t, str)}
                    self._remote[device.mac] = set(
                        sorted(seen)[: self.config.gateway_remote_ips_min]
                    )
        for device in sorted(self._devices.values(), key=lambda d: (d.last_seen, d.key)):
            for ip in device.ips:
                for vlan in device.vlans or {0}:
                    self._by_ip[(vlan, ip)] = device.key
        return len(self._devices)

    def _bound(self, device: DeviceRecord) -> None:
        """Apply the per-device bounds to a restored record (the configuration may be
        tighter than the one that saved it)."""
        cfg = self.config
        if len(device.ips) > cfg.ips_per_device_max:
            keep = sorted(device.ips, key=lambda a: device.ips[a][1])[-cfg.ips_per_device_max :]
            device.ips = {ip: device.ips[ip] for ip in keep}
            self._drop("ips_per_device_max")
        for attr, limit, what in (
            ("names", cfg.names_per_device_max, "names_per_device_max"),
            ("services", cfg.services_per_device_max, "services_per_device_max"),
            ("facts", cfg.facts_per_device_max, "facts_per_device_max"),
        ):
            items = getattr(device, attr)
            if len(items) > limit:
                setattr(device, attr, dict(list(items.items())[:limit]))
                self._drop(what)
        for key, values in device.facts.items():
            if len(values) > cfg.values_per_fact_max:
                device.facts[key] = values[-cfg.values_per_fact_max :]
                self._drop("values_per_fact_max")

    # --- subnets and gateways -----------------------------------------------------------

    def _learn_subnets(self, obs: Observation, ip: IPAddress) -> None:
        if _to_link_scope(obs) and not self._is_local(ip):
            prefix = _ARP_PREFIX if ip.version == 4 else _ND_PREFIX
            self._add_subnet(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
        if obs.protocol in _ON_LINK_V4 and ip.version == 4:
            self._add_subnet(ipaddress.ip_network(f"{ip}/{_ARP_PREFIX}", strict=False))
            target = _usable_ip(_text(obs.facts.get("target_ip")))
            if target is not None and target.version == 4:
                self._add_subnet(ipaddress.ip_network(f"{target}/{_ARP_PREFIX}", strict=False))
        elif obs.protocol in _ON_LINK_V6 and ip.version == 6 and not ip.is_link_local:
            self._add_subnet(ipaddress.ip_network(f"{ip}/{_ND_PREFIX}", strict=False))
        elif obs.protocol == "dhcp":
            mask = _text(obs.facts.get("subnet_mask"))
            if not mask:
                return
            for fact in ("offered_ip", "router"):
                addr = _usable_ip(_text(obs.facts.get(fact)))
                if addr is not None and addr.version == 4:
                    try:
                        net = ipaddress.ip_network(f"{addr}/{mask}", strict=False)
                    except ValueError:
                        continue
                    self._add_subnet(net)
                    return

    def _add_subnet(self, net: IPNetwork) -> None:
        if net.prefixlen == 0 or any(_contains(known, net) for known in self._subnets):
            return
        if len(self._subnets) >= self.config.subnets_max:
            self._drop("subnets_max")
            return
        first_of_family = all(known.version != net.version for known in self._subnets)
        # A wider subnet (from DHCP) replaces the /24s it covers.
        self._subnets = [known for known in self._subnets if not _contains(net, known)]
        self._subnets.append(net)
        log.debug("local subnet %s", net)
        if first_of_family:
            # Site-local addresses stop counting as local: recheck what gateways hold.
            for device in self._devices.values():
                if device.is_gateway:
                    self._detach_remote(device)

    def _is_local(self, ip: IPAddress) -> bool:
        if ip.is_link_local:
            return True
        learned = [net for net in self._subnets if net.version == ip.version]
        if not learned:
            # Nothing learned yet for this family: private addresses count as local.
            return _is_private(ip)
        return any(ip in net for net in learned)

    def _count_remote(self, mac: str, ip: IPAddress) -> None:
        if mac not in self._remote and len(self._remote) >= self.config.devices_max:
            self._drop("gateway_candidates")
            return
        seen = self._remote.setdefault(mac, set())
        if len(seen) >= self.config.gateway_remote_ips_min:
            return
        # IPv6: count /64 prefixes, so a host's privacy addresses do not look like many hosts.
        token = str(ip) if ip.version == 4 else str(ipaddress.ip_network(f"{ip}/64", strict=False))
        seen.add(token)
        if len(seen) >= self.config.gateway_remote_ips_min:
            self._promote_gateway(mac)

    def _held(self, mac: str) -> set[str]:
        """The addresses (IPv6: /64 prefixes of remote ones) `mac` has sourced so far."""
        device = self._devices.get(mac)
        held = set(self._remote.get(mac, ()))
        if device is not None:
            held.update(device.ips)
        return held

    def _withdraw(self, mac: str, ip: str) -> None:
        """Detach an on-link public address the MAC's later packets showed to be forwarded."""
        device = self._devices.get(mac)
        if device is not None and ip in device.ips:
            del device.ips[ip]
            self._unindex(device.key, ip)
            self._changed.add(device.key)
        log.debug("public address %s behind %s is not on-link after all", ip, mac)

    def _is_gateway(self, mac: str) -> bool:
        seen = self._remote.get(mac)
        return seen is not None and len(seen) >= self.config.gateway_remote_ips_min

    def _promote_gateway(self, mac: str) -> None:
        device = self._devices.get(mac)
        if device is None:
            return
        device.is_gateway = True
        self._detach_remote(device)
        self._changed.add(device.key)
        log.info("treating a MAC as a gateway: it sources many remote addresses")

    def _detach_remote(self, device: DeviceRecord) -> None:
        for ip in list(device.ips):
            if not self._is_local(ipaddress.ip_address(ip)):
                del device.ips[ip]
                self._unindex(device.key, ip)
                self._changed.add(device.key)

    def _drop(self, limit: str) -> None:
        count = self.dropped.get(limit, 0)
        # values_per_fact_max keeps the most recent values by design (DNS names, SYN ports
        # churn) and merge notices are only kept for a caller that drains them: counted, but
        # not a degradation worth a warning; the daemon logs what a restore skipped.
        if count == 0 and limit not in (
            "values_per_fact_max",
            "merged_undrained",
            "restore_invalid",
        ):
            log.warning("inventory limit %s reached; further items are dropped and counted", limit)
        self.dropped[limit] = count + 1


def _usable_ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        return None
    if ip.version == 4 and int(ip) == 0xFFFFFFFF:
        return None
    return ip


# Site-local address space (RFC 1918, RFC 3927 link-local, RFC 4193 ULA, RFC 4291 link-local).
# ipaddress's is_private also counts the documentation and benchmark blocks, which on a real
# network can only be remote.
_PRIVATE_NETS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


def _is_private(ip: IPAddress) -> bool:
    return any(ip in net for net in _PRIVATE_NETS if net.version == ip.version)


def _is_randomised(device: DeviceRecord) -> bool:
    """A locally administered MAC: a phone's or laptop's per-network random address."""
    return device.mac is not None and bool(int(device.mac[:2], 16) & 0x02)


_MAC_TEXT = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def _check_identity(device: DeviceRecord) -> None:
    """A restored record's key is its MAC, or "vlan/ip" for an address-only device."""
    if device.mac is not None:
        if device.key != device.mac or not _MAC_TEXT.fullmatch(device.mac):
            raise ValueError("key: not the record's MAC")
        if not _is_unicast_mac(device.mac):
            raise ValueError("mac: not a unicast MAC")
        return
    vlan, _, ip = device.key.partition("/")
    if not vlan.isdigit() or _usable_ip(ip) is None:
        raise ValueError("key: not vlan/ip")


def _is_unicast_mac(mac: str) -> bool:
    return mac != "00:00:00:00:00:00" and not int(mac[:2], 16) & 1


def _contains(outer: IPNetwork, inner: IPNetwork) -> bool:
    return (
        outer.version == inner.version
        and outer.prefixlen <= inner.prefixlen
        and inner.network_address in outer
    )


def _to_link_scope(obs: Observation) -> bool:
    """True when the observed packet went to a link-scope multicast or broadcast address."""
    flow = obs.flow
    if flow is None or flow.dst_ip is None or flow.src_ip != obs.ip:
        return False
    try:
        dst = ipaddress.ip_address(flow.dst_ip)
    except ValueError:
        return False
    if dst.version == 4:
        return dst in _LINK_SCOPE_V4 or int(dst) == 0xFFFFFFFF
    return dst.is_multicast and (int(dst) >> 112) & 0xF == 2  # RFC 4291 §2.7 scope 2: link


# NetBIOS name suffixes that name the host itself: workstation, messenger, file server
# (the others name a workgroup, a domain or a browser role; group names name no one).
_NBNS_HOST_SUFFIXES = frozenset({0x00, 0x03, 0x20})


def _is_nbns_host_name(obs: Observation) -> bool:
    suffix = obs.facts.get("suffix")
    return obs.facts.get("group") is not True and (suffix is None or suffix in _NBNS_HOST_SUFFIXES)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _service_port(obs: Observation) -> tuple[int | None, str]:
    """The port the observed server listens on, from the flow (or the tcp_syn `port` fact)."""
    flow = obs.flow
    port_fact = obs.facts.get("port")
    if flow is None:
        return (port_fact if isinstance(port_fact, int) else None), "tcp"
    proto = flow.proto
    if isinstance(port_fact, int):
        return port_fact, proto
    if obs.ip is not None and obs.ip == flow.dst_ip and obs.ip != flow.src_ip:
        return flow.dst_port, proto
    return flow.src_port, proto
