"""The extractor modules the pipeline dispatches to, in dispatch order.

Each module follows the contract in capture/extractors/__init__.py. The triage builds its
EtherType/LLC/port tables from these modules and offers unclaimed TCP/UDP payloads to their
`wants()` in this order, so the cheap specific parsers come before the generic ones.
"""

from __future__ import annotations

from types import ModuleType

from capture.extractors import (
    arp,
    browser,
    cdp,
    crestron,
    dhcp,
    dhcpv6,
    dhip,
    dns,
    edimax,
    http,
    icmpv6_nd,
    ipp,
    ldp,
    lldp,
    llmnr,
    mdns,
    nbns,
    ntp,
    pjl,
    rfb,
    rtsp,
    sadp,
    sccp,
    sip,
    slp,
    snmp,
    ssdp,
    tcp_syn,
    telnet,
    tivo,
    tls,
    tplink_shp,
    ubnt,
    wsd,
)

EXTRACTORS: tuple[ModuleType, ...] = (
    arp,
    dhcp,
    dhcpv6,
    mdns,
    dns,
    ssdp,
    nbns,
    browser,
    llmnr,
    wsd,
    lldp,
    cdp,
    snmp,
    ntp,
    ldp,
    icmpv6_nd,
    slp,
    sccp,
    tplink_shp,
    edimax,
    tivo,
    sadp,
    ubnt,
    crestron,
    dhip,
    rtsp,
    http,
    sip,
    tls,
    telnet,
    rfb,
    ipp,
    pjl,
    tcp_syn,
)

# Payload segments per TCP flow (both directions together) worth offering to an extractor
# whose identity facts come first: a TLS ClientHello (even split in two or three segments) and
# the first HTTP or RTSP request/response heads (RTSP on 554 may carry the video itself,
# interleaved). Bulk data after them is never parsed (measured on the
# bench capture: 61% of all frames were TLS records on port 443). Extractors absent here
# (Telnet, RFB, SIP over TCP) see every segment: logins and auth results come later.
TCP_SEGMENTS_MAX: dict[str, int] = {"tls": 8, "http": 32, "rtsp": 16}

# Every extractor must define these; checked by tests/capture/test_pipeline.py.
CONTRACT = ("NAME", "ETHERTYPES", "LLC", "UDP_PORTS", "TCP_PORTS", "SCAPY", "wants", "extract")


def by_name() -> dict[str, ModuleType]:
    """The registered modules keyed by their NAME."""
    return {module.NAME: module for module in EXTRACTORS}
