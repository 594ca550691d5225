"""One module per protocol; each turns a Frame into Observations.

The contract every extractor module follows (the pipeline relies on it):

    NAME: str                    # protocol name, the Observation.protocol value
    ETHERTYPES: frozenset[int]   # EtherTypes it handles (ARP, LLDP, ...), may be empty
    LLC: bool                    # handles 802.3/LLC/SNAP frames (CDP)
    UDP_PORTS: frozenset[int]    # frames whose src or dst UDP port is in it are offered
    TCP_PORTS: frozenset[int]    # same for TCP (payload-bearing segments)
    SCAPY: bool                  # True when extract() dissects with scapy (counted)

    def wants(frame: Frame) -> bool
        # Called for TCP/UDP frames with a payload that no port table claimed: a cheap test
        # of the first payload bytes (Telnet IAC, "RFB 003.", "HTTP/1.", TLS 0x16 0x03,
        # "SIP/2.0") so protocols are recognised on any port. Return False when unsure.

    def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]
        # Pure apart from ctx.flows; raises only DecodeError on malformed input;
        # normalises MACs to lowercase aa:bb:cc:dd:ee:ff; text capped at ctx.text_max_bytes.

capture/extractors/registry.py lists the modules in dispatch order.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


class FlowTable:
    """Bounded per-flow state for stateful protocols (Telnet, RFB, HTTP), LRU-evicted.

    Keys are built by callers, normally (vlan, server_ip, server_port, client_ip,
    client_port, protocol). Values are small dicts owned by one extractor.
    """

    def __init__(self, max_flows: int) -> None:
        self.max_flows = max_flows
        self.evicted = 0
        self._flows: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...], create: bool = True) -> dict[str, Any] | None:
        state = self._flows.get(key)
        if state is not None:
            self._flows.move_to_end(key)
            return state
        if not create:
            return None
        state = {}
        self._flows[key] = state
        if len(self._flows) > self.max_flows:
            self._flows.popitem(last=False)
            self.evicted += 1
        return state

    def drop(self, key: tuple[Any, ...]) -> None:
        self._flows.pop(key, None)

    def __len__(self) -> int:
        return len(self._flows)


@dataclass(slots=True)
class ExtractContext:
    """What extractors may use beyond the frame: limits, flow state and a hashing salt."""

    text_max_bytes: int = 512
    flows: FlowTable = field(default_factory=lambda: FlowTable(4096))
    salt: bytes = b""

    def hash_secret(self, secret: bytes) -> str:
        """Salted hash of a secret seen on the wire (SNMP community): never keep it in clear."""
        return hashlib.sha256(self.salt + secret).hexdigest()[:16]
