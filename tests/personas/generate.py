#!/usr/bin/env python3
"""Persona generator: labelled captures of devices speaking what the real devices send.

Each persona is one device of a known vendor: its MAC (a real OUI of the vendor from the IEEE
registry), and the packets it sends on a branch LAN: DHCP with its option-55 list and vendor
class, mDNS answers with TXT records, SSDP NOTIFY, LLDP/LLDP-MED, CDP, SIP REGISTER
User-Agent, HTTP Server/User-Agent, SNMP sysDescr/sysObjectID responses, WS-Discovery Hello.
The strings are the formats the vendors publish (admin guides, Bonjour/HomeKit/ONVIF specs);
each persona's comment names it. A few probes from a scanner (nmap-style SIP OPTIONS, SNMP
get, mDNS query) are mixed in as negatives: the scanner is labelled "unclassified".

This module imports nothing from capture/: it writes what the devices send.

Writes <out>/captures/<persona>.pcap, <out>/labels.json (all personas, eval format) and
<out>/labels-heldout.json (only the vendors of HELDOUT.md). Deterministic: same bytes on
every run.

Usage: python -m tests.personas.generate [--out tests/personas]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scapy.all import (  # type: ignore[import-untyped]
    BOOTP,
    DHCP,
    DNS,
    DNSRR,
    IP,
    LLC,
    SNAP,
    SNMP,
    TCP,
    UDP,
    Dot3,
    Ether,
    PcapWriter,
    Raw,
    SNMPresponse,
    SNMPvarbind,
)
from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING  # type: ignore[import-untyped]
from scapy.layers.dns import DNSRRSRV  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
HELDOUT_VENDORS = ("Lexmark", "Kyocera", "Snom", "Vivotek", "ecobee", "Ruckus", "Lenovo")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fixed timestamps make the files reproducible
GATEWAY_MAC = "00:00:0c:07:ac:01"
SWITCH_PORT_MAC = "00:00:0c:aa:bb:01"
MANAGER_IP = "10.20.0.5"

Packet = Any


# --- packet builders: one per protocol, each returns the frames one device sends -----------


def dhcp(
    p: Persona, *, hostname: str | None = None, prl: list[int] | None = None, vc: str | None = None
) -> list[Packet]:
    """RFC 2131 DISCOVER then REQUEST from the client (chaddr = its MAC)."""
    out = []
    for msg, xid in (("discover", 0x1000), ("request", 0x1001)):
        opts: list[Any] = [("message-type", msg)]
        if msg == "request":
            opts.append(("requested_addr", p.ip))
        if prl:
            opts.append(("param_req_list", prl))
        if vc:
            opts.append(("vendor_class_id", vc.encode()))
        if hostname:
            opts.append(("hostname", hostname.encode()))
        opts.append("end")
        out.append(
            Ether(src=p.mac, dst="ff:ff:ff:ff:ff:ff")
            / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67)
            / BOOTP(
                chaddr=bytes.fromhex(p.mac.replace(":", "")) + b"\0" * 10,
                xid=xid + p.index,
                flags=0x8000,
            )
            / DHCP(options=opts)
        )
    return out


def mdns(
    p: Persona,
    *,
    host: str,
    services: list[tuple[str, str, int, dict[str, str]]],
) -> list[Packet]:
    """RFC 6762/6763 unsolicited announcement: PTR, SRV, TXT per service, and the A record."""
    answers = []
    additional = []
    fqdn = f"{host}.local."
    for stype, instance, port, txt in services:
        full = f"{instance}.{stype}.local."
        answers.append(DNSRR(rrname=f"{stype}.local.", type="PTR", ttl=4500, rdata=full))
        additional.append(DNSRRSRV(rrname=full, ttl=120, port=port, target=fqdn))
        records = [f"{k}={v}".encode() for k, v in txt.items()] or [b""]
        additional.append(DNSRR(rrname=full, type="TXT", ttl=4500, rdata=records))
    additional.append(DNSRR(rrname=fqdn, type="A", ttl=120, rdata=p.ip))
    msg = DNS(id=0, qr=1, aa=1, qd=[], an=answers, ar=additional)
    frame = (
        Ether(src=p.mac, dst="01:00:5e:00:00:fb")
        / IP(src=p.ip, dst="224.0.0.251", ttl=255)
        / UDP(sport=5353, dport=5353)
        / msg
    )
    return [frame]


def ssdp(
    p: Persona, *, server: str, nt: str, usn: str, path: str = "/description.xml"
) -> list[Packet]:
    """UPnP Device Architecture 2.0 §1.2.2 ssdp:alive NOTIFY."""
    text = (
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
        f"LOCATION: http://{p.ip}:49152{path}\r\nNT: {nt}\r\nNTS: ssdp:alive\r\n"
        f"SERVER: {server}\r\nUSN: {usn}\r\n\r\n"
    )
    return [
        Ether(src=p.mac, dst="01:00:5e:7f:ff:fa")
        / IP(src=p.ip, dst="239.255.255.250", ttl=4)
        / UDP(sport=1900, dport=1900)
        / Raw(text.encode())
    ]


def tivo_beacon(
    p: Persona, *, platform: str, machine: str, swversion: str, tsn: str
) -> list[Packet]:
    """TiVo Connect discovery beacon, broadcast to UDP 2190 (key=value lines, as DVRs send)."""
    text = (
        f"tivoconnect=1\nswversion={swversion}\nmethod=broadcast\nidentity={tsn}\n"
        f"machine={machine}\nplatform={platform}\nservices=TiVoMediaServer:80/http\n"
    )
    return [
        Ether(src=p.mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=p.ip, dst="255.255.255.255", ttl=64)
        / UDP(sport=2190, dport=2190)
        / Raw(text.encode())
    ]


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!H", (kind << 9) | len(value)) + value


def lldp(
    p: Persona,
    *,
    name: str,
    descr: str,
    caps: tuple[int, int],
    med_class: int | None = None,
    inventory: dict[int, str] | None = None,
) -> list[Packet]:
    """IEEE 802.1AB LLDPDU (+ ANSI/TIA-1057 LLDP-MED capabilities and inventory TLVs)."""
    mac = bytes.fromhex(p.mac.replace(":", ""))
    body = _tlv(1, b"\x04" + mac) + _tlv(2, b"\x03" + mac) + _tlv(3, struct.pack("!H", 120))
    body += _tlv(5, name.encode()) + _tlv(6, descr.encode())
    body += _tlv(7, struct.pack("!HH", caps[0], caps[1]))
    body += _tlv(
        8, b"\x05\x01" + bytes(int(x) for x in p.ip.split(".")) + b"\x02\x00\x00\x00\x01\x00"
    )
    if med_class is not None:
        # LLDP-MED capabilities: capabilities bitmap (capabilities, inventory) + device type
        body += _tlv(127, b"\x00\x12\xbb\x01" + struct.pack("!HB", 0x0021, med_class))
    for subtype, value in sorted((inventory or {}).items()):
        body += _tlv(127, b"\x00\x12\xbb" + bytes([subtype]) + value.encode())
    body += _tlv(0, b"")
    return [Ether(src=p.mac, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(body)]


def _cdp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def cdp(p: Persona, *, device_id: str, platform: str, software: str, caps: int) -> list[Packet]:
    """Cisco Discovery Protocol v2 over 802.3 LLC/SNAP (OUI 00000C, PID 0x2000)."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack("!HH", kind, len(value) + 4) + value

    addr = (
        struct.pack("!I", 1)
        + b"\x01\x01\xcc"
        + struct.pack("!H", 4)
        + bytes(int(x) for x in p.ip.split("."))
    )
    tlvs = (
        tlv(1, device_id.encode())
        + tlv(2, addr)
        + tlv(3, b"Port 1")
        + tlv(4, struct.pack("!I", caps))
    )
    tlvs += tlv(5, software.encode()) + tlv(6, platform.encode())
    head = b"\x02\xb4"
    pdu = head + struct.pack("!H", _cdp_checksum(head + b"\0\0" + tlvs)) + tlvs
    frame = Dot3(src=p.mac, dst="01:00:0c:cc:cc:cc") / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
    return [frame / SNAP(OUI=0x00000C, code=0x2000) / Raw(pdu)]


def sip_register(p: Persona, *, ua: str, user: str = "1001") -> list[Packet]:
    """RFC 3261 REGISTER from the phone to the PBX, with its User-Agent."""
    text = (
        f"REGISTER sip:10.20.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP {p.ip}:5060;branch=z9hG4bK{p.index:06d}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:{user}@10.20.0.2>;tag={p.index:08x}\r\n"
        f"To: <sip:{user}@10.20.0.2>\r\nCall-ID: {p.index:08x}@{p.ip}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{user}@{p.ip}:5060>\r\nUser-Agent: {ua}\r\nExpires: 3600\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return [
        Ether(src=p.mac, dst=GATEWAY_MAC)
        / IP(src=p.ip, dst="10.20.0.2")
        / UDP(sport=5060, dport=5060)
        / Raw(text.encode())
    ]


def http_server(
    p: Persona, *, server: str, content_type: str = "text/html", port: int = 80
) -> list[Packet]:
    """The device's web server answering a manager's GET (SYN-ACK, then the response head)."""
    syn_ack = Ether(src=p.mac, dst=GATEWAY_MAC) / IP(src=p.ip, dst=MANAGER_IP) / TCP(
        sport=port, dport=50000 + p.index, flags="SA", seq=1000, ack=1, window=5840,
        options=[("MSS", 1460)],
    )  # fmt: skip
    text = f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Type: {content_type}\r\nContent-Length: 0\r\n\r\n"
    response = Ether(src=p.mac, dst=GATEWAY_MAC) / IP(src=p.ip, dst=MANAGER_IP) / TCP(
        sport=port, dport=50000 + p.index, flags="PA", seq=1001, ack=80
    ) / Raw(text.encode())  # fmt: skip
    return [syn_ack, response]


def telnet_server(p: Persona, *, banner: str, port: int = 23) -> list[Packet]:
    """The device's Telnet server answering a manager: the handshake, then its option
    negotiation (IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD, RFC 857/858) and its banner."""
    client = Ether(src=GATEWAY_MAC, dst=p.mac) / IP(src=MANAGER_IP, dst=p.ip)
    server = Ether(src=p.mac, dst=GATEWAY_MAC) / IP(src=p.ip, dst=MANAGER_IP)
    cport = 51000 + p.index
    return [
        client / TCP(sport=cport, dport=port, flags="S", seq=100, window=64240),
        server / TCP(sport=port, dport=cport, flags="SA", seq=5000, ack=101, window=5840),
        client / TCP(sport=cport, dport=port, flags="A", seq=101, ack=5001),
        server
        / TCP(sport=port, dport=cport, flags="PA", seq=5001, ack=101)
        / Raw(b"\xff\xfb\x01\xff\xfb\x03"),
        server / TCP(sport=port, dport=cport, flags="PA", seq=5007, ack=101) / Raw(banner.encode()),
    ]


def rtsp_server(p: Persona, *, server: str, port: int = 554) -> list[Packet]:
    """The camera answering a recorder's RTSP OPTIONS (RFC 2326 §10.1) on its RTSP port."""
    text = (
        f"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: {server}\r\n"
        "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
    )
    return [
        Ether(src=p.mac, dst=GATEWAY_MAC)
        / IP(src=p.ip, dst=MANAGER_IP)
        / TCP(sport=port, dport=50000 + p.index, flags="PA", seq=2001, ack=60)
        / Raw(text.encode())
    ]


def sadp_reply(p: Persona, *, model: str, serial: str, version: str) -> list[Packet]:
    """Hikvision SADP ProbeMatch to 239.255.255.250:37020, answering an NVR's inquiry."""
    mac = p.mac.replace(":", "-")
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch><Uuid>6F1D2C3B-0A9E-4B8C-9D7E-'
        f"{p.mac.replace(':', '').upper()}</Uuid>\r\n<Types>inquiry</Types>\r\n"
        f"<DeviceType>135340</DeviceType>\r\n<DeviceDescription>{model}</DeviceDescription>\r\n"
        f"<DeviceSN>{serial}</DeviceSN>\r\n<CommandPort>8000</CommandPort>\r\n"
        f"<HttpPort>80</HttpPort>\r\n<MAC>{mac}</MAC>\r\n<IPv4Address>{p.ip}</IPv4Address>\r\n"
        f"<SoftwareVersion>{version}</SoftwareVersion>\r\n<Activated>true</Activated>\r\n"
        "</ProbeMatch>"
    )
    return [
        Ether(src=p.mac, dst="01:00:5e:7f:ff:fa")
        / IP(src=p.ip, dst="239.255.255.250", ttl=1)
        / UDP(sport=37020, dport=37020)
        / Raw(text.encode())
    ]


def ubnt_announce(p: Persona, *, product: str, model: str, version: str, full: str) -> list[Packet]:
    """Ubiquiti discovery announcement from UDP 10001 (version 1 TLVs, broadcast)."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack("!BH", kind, len(value)) + value

    mac = bytes.fromhex(p.mac.replace(":", ""))
    ip = bytes(int(x) for x in p.ip.split("."))
    body = (
        tlv(0x01, mac) + tlv(0x02, mac + ip) + tlv(0x03, full.encode())
        + tlv(0x0B, p.name.encode()) + tlv(0x0C, product.encode())
        + tlv(0x15, model.encode()) + tlv(0x16, version.encode())
    )  # fmt: skip
    return [
        Ether(src=p.mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=p.ip, dst="255.255.255.255", ttl=64)
        / UDP(sport=10001, dport=10001)
        / Raw(struct.pack("!BBH", 1, 0, len(body)) + body)
    ]


def crestron_answer(p: Persona, *, host: str, line: str) -> list[Packet]:
    """A Crestron device answering autodiscovery on UDP 41794: host name, then its version line
    as the VER console command prints it (the leading framing bytes are placeholders)."""
    body = b"\x15\x00\x00\x01\x00\x00\x00\x00\x00\x00" + host.encode().ljust(256, b"\x00")
    return [
        Ether(src=p.mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=p.ip, dst="255.255.255.255", ttl=64)
        / UDP(sport=41794, dport=41794)
        / Raw(body + line.encode() + b"\x00")
    ]


def dhip_answer(p: Persona, *, info: dict[str, Any]) -> list[Packet]:
    """A Dahua-platform device's DHIP client.notifyDevInfo answer on UDP 37810 (32-byte
    header: 0x20, "DHIP", session, JSON length little-endian at 16 and 24)."""
    body = json.dumps(
        {"mac": p.mac, "method": "client.notifyDevInfo", "params": {"deviceInfo": info}}
    ).encode()
    header = bytearray(32)
    header[0], header[4:8] = 0x20, b"DHIP"
    struct.pack_into("<I", header, 16, len(body))
    struct.pack_into("<I", header, 24, len(body))
    return [
        Ether(src=p.mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=p.ip, dst="255.255.255.255", ttl=64)
        / UDP(sport=37810, dport=37810)
        / Raw(bytes(header) + body)
    ]


def http_client(
    p: Persona, *, ua: str, host: str = "connectivitycheck.example.net"
) -> list[Packet]:
    """A GET the device sends (firmware check, captive-portal probe) with its User-Agent."""
    text = f"GET /generate_204 HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n\r\n"
    return [
        Ether(src=p.mac, dst=GATEWAY_MAC)
        / IP(src=p.ip, dst="93.184.216.34")
        / TCP(sport=40000 + p.index, dport=80, flags="PA", seq=1, ack=1)
        / Raw(text.encode())
    ]


def snmp_agent(p: Persona, *, descr: str, oid: str, name: str = "") -> list[Packet]:
    """RFC 3416 GetResponse from the agent: sysDescr.0, sysObjectID.0, sysName.0."""
    binds = [
        SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.1.0"), value=ASN1_STRING(descr.encode())),
        SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.2.0"), value=ASN1_OID(oid)),
        SNMPvarbind(
            oid=ASN1_OID("1.3.6.1.2.1.1.5.0"), value=ASN1_STRING((name or p.name).encode())
        ),
    ]
    pdu = SNMP(version=1, community=b"public", PDU=SNMPresponse(id=p.index, varbindlist=binds))
    return [
        Ether(src=p.mac, dst=GATEWAY_MAC)
        / IP(src=p.ip, dst=MANAGER_IP)
        / UDP(sport=161, dport=40161)
        / pdu
    ]


def wsd_hello(p: Persona, *, types: str, scopes: str) -> list[Packet]:
    """OASIS WS-Discovery 1.1 Hello (ONVIF Core §7.3 for cameras)."""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        "<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</a:Action>"
        f"<a:MessageID>urn:uuid:00000000-0000-0000-0000-{p.index:012d}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Hello>"
        f"<a:EndpointReference><a:Address>urn:uuid:5f5a69c2-e0ae-504f-829b-{p.mac.replace(':', '')}</a:Address>"
        f"</a:EndpointReference><d:Types>{types}</d:Types><d:Scopes>{scopes}</d:Scopes>"
        f"<d:XAddrs>http://{p.ip}/onvif/device_service</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:Hello></s:Body></s:Envelope>"
    )
    return [
        Ether(src=p.mac, dst="01:00:5e:7f:ff:fa")
        / IP(src=p.ip, dst="239.255.255.250")
        / UDP(sport=3702, dport=3702)
        / Raw(xml.encode())
    ]


# --- scanner probes (negatives) -------------------------------------------------------------


def scanner_probes(p: Persona) -> list[Packet]:
    """What nmap -sU/-sV sends: SIP OPTIONS (nmap-service-probes SIPOptions), an SNMP get for
    sysDescr with community public, an mDNS query and an SSDP M-SEARCH."""
    target = "10.20.0.40"
    options = (
        "OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/UDP nm;branch=foo;rport\r\nFrom: <sip:nm@nm>;tag=root\r\n"
        "To: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\nContact: <sip:nm@nm>\r\nAccept: application/sdp\r\n\r\n"
    )
    get = SNMP(version=0, community=b"public", PDU=__import__("scapy.all", fromlist=["SNMPget"]).SNMPget(
        id=1, varbindlist=[SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.1.0"))]))  # fmt: skip
    query = DNS(
        id=0,
        qr=0,
        qd=__import__("scapy.all", fromlist=["DNSQR"]).DNSQR(qname="_ipp._tcp.local", qtype="PTR"),
    )
    search = (
        'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
        "ST: urn:schemas-upnp-org:device:Printer:1\r\n\r\n"
    )
    base = Ether(src=p.mac, dst=GATEWAY_MAC) / IP(src=p.ip, dst=target)
    return [
        base / UDP(sport=41000, dport=5060) / Raw(options.encode()),
        base / UDP(sport=41001, dport=161) / get,
        Ether(src=p.mac, dst="01:00:5e:00:00:fb")
        / IP(src=p.ip, dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / query,
        Ether(src=p.mac, dst="01:00:5e:7f:ff:fa")
        / IP(src=p.ip, dst="239.255.255.250")
        / UDP(sport=41002, dport=1900)
        / Raw(search.encode()),
    ]


# --- personas ---------------------------------------------------------------------------------


@dataclass
class Persona:
    name: str
    mac: str
    ip: str
    type: str | None
    vendor: str | None
    model: str | None = None
    firmware: str | None = None
    sends: list[Callable[[Persona], list[Packet]]] = field(default_factory=list)
    index: int = 0

    @property
    def heldout(self) -> bool:
        return self.vendor in HELDOUT_VENDORS


def _p(name: str, mac: str, typ: str | None, vendor: str | None, model: str | None = None,
       firmware: str | None = None, *sends: Callable[[Persona], list[Packet]]) -> Persona:  # fmt: skip
    return Persona(name, mac, "", typ, vendor, model, firmware, list(sends))


def _w(fn: Callable[..., list[Packet]], **kw: Any) -> Callable[[Persona], list[Packet]]:
    return lambda p: fn(p, **kw)


WIN10_PRL = [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]
MACOS_PRL = [1, 121, 3, 6, 15, 119, 252, 95, 44, 46]
IOS_PRL = [1, 121, 3, 6, 15, 119, 252]
LINUX_PRL = [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]
EMBEDDED_PRL = [1, 3, 6, 12, 15, 28, 42]
LLDP_BRIDGE, LLDP_ROUTER, LLDP_PHONE, LLDP_AP = 0x0004, 0x0010, 0x0020, 0x0008


def _printer_mdns(
    host: str, ty: str, mfg: str, mdl: str, extra: dict[str, str] | None = None
) -> Callable[[Persona], list[Packet]]:
    txt = {"txtvers": "1", "qtotal": "1", "rp": "ipp/print", "ty": ty, "product": f"({ty})",
           "usb_MFG": mfg, "usb_MDL": mdl, "pdl": "application/pdf,image/urf", **(extra or {})}  # fmt: skip
    return _w(mdns, host=host, services=[
        ("_ipp._tcp", ty, 631, txt),
        ("_pdl-datastream._tcp", ty, 9100, {"txtvers": "1", "ty": ty}),
    ])  # fmt: skip


PERSONAS: list[Persona] = [
    # ---------------- printers ----------------
    # HP: JetDirect vendor class, NPI hostname, Bonjour printing TXT, HP EWS banner
    _p(
        "hp-m404",
        "a0:8c:fd:3a:7b:3c",
        "printer",
        "HP",
        "LaserJet Pro M404dn",
        None,
        _w(dhcp, hostname="NPI3A7B3C", prl=EMBEDDED_PRL, vc="Hewlett-Packard JetDirect"),
        _printer_mdns("NPI3A7B3C", "HP LaserJet Pro M404dn", "HP", "LaserJet Pro M404dn"),
        _w(
            http_server,
            server="HP HTTP Server; HP LaserJet Pro M404dn - W1A53A; Serial Number: PHBLL12345; Built:Thu Jan 21, 2021",
        ),
    ),
    _p(
        "brother-mfc",
        "3c:2a:f4:11:22:33",
        "printer",
        "Brother",
        "MFC-L8900CDW",
        None,
        _w(dhcp, hostname="BRN3C2AF4112233", prl=EMBEDDED_PRL),
        _printer_mdns(
            "BRN3C2AF4112233", "Brother MFC-L8900CDW series", "Brother", "MFC-L8900CDW series"
        ),
        _w(http_server, server="debut/1.20"),
    ),
    _p(
        "brother-hl",
        "00:80:77:44:55:66",
        "printer",
        "Brother",
        None,
        "1.04",
        _w(dhcp, hostname="BRW008077445566", prl=EMBEDDED_PRL),
        _w(
            snmp_agent,
            descr="Brother NC-8300h, Firmware Ver.1.04  (15.11.11),MID 8C5-E12,FID 2",
            oid="1.3.6.1.4.1.2435.2.3.9.1",
        ),
    ),
    _p(
        "canon-ir",
        "00:00:85:12:34:56",
        "printer",
        "Canon",
        "iR-ADV C5535",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(snmp_agent, descr="Canon iR-ADV C5535 /P", oid="1.3.6.1.4.1.1602.4.7"),
        _w(http_server, server="KS_HTTP/1.0"),
    ),
    _p(
        "epson-wf",
        "00:26:ab:1a:2b:3c",
        "printer",
        "Epson",
        "WF-C5790 Series",
        None,
        _w(dhcp, hostname="EPSON1A2B3C", prl=EMBEDDED_PRL),
        _printer_mdns("EPSON1A2B3C", "EPSON WF-C5790 Series", "EPSON", "WF-C5790 Series"),
        _w(http_server, server="EPSON-HTTP/1.0"),
    ),
    _p(
        "xerox-wc",
        "9c:93:4e:21:43:65",
        "printer",
        "Xerox",
        "WorkCentre 7845",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            snmp_agent,
            descr="Xerox WorkCentre 7845 v1 Multifunction System; System Software 073.040.075.34540, ESS 073.040.34540",
            oid="1.3.6.1.4.1.253.8.62.1.20.2.1",
        ),
        _w(http_server, server="Xerox_MicroServer/Xerox11"),
    ),
    _p(
        "ricoh-mp",
        "00:00:74:d1:e2:f3",
        "printer",
        "Ricoh",
        "MP C3003",
        "1.17",
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            snmp_agent,
            descr="RICOH MP C3003 1.17 / RICOH Network Printer C model / RICOH Network Scanner C model / RICOH Network Facsimile C model",
            oid="1.3.6.1.4.1.367.1.1",
        ),
    ),
    _p(
        "hp-jetdirect-snmp",
        "00:01:e6:5a:6b:7c",
        "printer",
        "HP",
        None,
        None,
        _w(dhcp, hostname="NPI5A6B7C", prl=EMBEDDED_PRL),
        _w(
            snmp_agent,
            descr="HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI23900012,CIDATE 03/23/2021",
            oid="1.3.6.1.4.1.11.2.3.9.1",
        ),
    ),
    # held out: Lexmark and Kyocera, only the Bonjour Printing TXT keys and their OUI
    _p(
        "lexmark-ms610",
        "00:21:b7:0a:0b:0c",
        "printer",
        "Lexmark",
        "MS610de",
        None,
        _w(dhcp, hostname="ET0021B70A0B0C", prl=EMBEDDED_PRL),
        _printer_mdns("ET0021B70A0B0C", "Lexmark MS610de", "Lexmark", "MS610de"),
    ),
    _p(
        "lexmark-cx725",
        "00:04:00:1d:2e:3f",
        "printer",
        "Lexmark",
        "CX725",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _printer_mdns("ET0004001D2E3F", "Lexmark CX725", "Lexmark", "CX725"),
    ),
    _p(
        "kyocera-m2540",
        "d4:f0:c9:4a:5b:6c",
        "printer",
        "Kyocera",
        "ECOSYS M2540dn",
        None,
        _w(dhcp, hostname="KM4A5B6C", prl=EMBEDDED_PRL),
        _printer_mdns("KM4A5B6C", "Kyocera ECOSYS M2540dn", "Kyocera", "ECOSYS M2540dn"),
    ),
    _p(
        "kyocera-taskalfa",
        "00:c0:ee:7d:8e:9f",
        "printer",
        "Kyocera",
        "TASKalfa 3253ci",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _printer_mdns("KM7D8E9F", "Kyocera TASKalfa 3253ci", "Kyocera", "TASKalfa 3253ci"),
    ),
    # ---------------- cameras ----------------
    _p(
        "axis-m3045",
        "ac:cc:8e:12:34:56",
        "ip_camera",
        "Axis",
        "M3045-V",
        None,
        _w(dhcp, hostname="axis-accc8e123456", prl=EMBEDDED_PRL),
        _w(
            mdns,
            host="axis-accc8e123456",
            services=[
                (
                    "_axis-video._tcp",
                    "AXIS M3045-V - ACCC8E123456",
                    80,
                    {"macaddress": "ACCC8E123456"},
                )
            ],
        ),
    ),
    _p(
        "axis-p1448",
        "b8:a4:4f:65:43:21",
        "ip_camera",
        "Axis",
        "P1448-LE",
        None,
        _w(dhcp, hostname="axis-b8a44f654321", prl=EMBEDDED_PRL),
        _w(
            mdns,
            host="axis-b8a44f654321",
            services=[
                (
                    "_axis-video._tcp",
                    "AXIS P1448-LE - B8A44F654321",
                    80,
                    {"macaddress": "B8A44F654321"},
                )
            ],
        ),
    ),
    _p(
        "hikvision-ds2cd",
        "04:03:12:ab:cd:ef",
        "ip_camera",
        "Hikvision",
        None,
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(http_server, server="App-webs/"),
    ),
    _p(
        "hikvision-nvr",
        "08:54:11:aa:bb:cc",
        "ip_camera",
        "Hikvision",
        None,
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(http_server, server="DNVRS-Webs"),
        _w(snmp_agent, descr="Hikvision DS-7608NI", oid="1.3.6.1.4.1.39165.1.1"),
    ),
    _p(
        "generic-onvif-dahua",
        "08:ed:ed:12:12:12",
        "ip_camera",
        "Dahua",
        "IPC-HDW2431T",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            wsd_hello,
            types="dn:NetworkVideoTransmitter tds:Device",
            scopes="onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/IPC-HDW2431T onvif://www.onvif.org/name/Dahua",
        ),
    ),
    # held out: Vivotek, ONVIF WS-Discovery only
    _p(
        "vivotek-fd9360",
        "00:02:d1:3c:4d:5e",
        "ip_camera",
        "Vivotek",
        "FD9360",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            wsd_hello,
            types="dn:NetworkVideoTransmitter tds:Device",
            scopes="onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/FD9360 onvif://www.onvif.org/name/VIVOTEK onvif://www.onvif.org/location/country/taiwan",
        ),
    ),
    _p(
        "vivotek-ib9360",
        "00:02:d1:6f:70:81",
        "ip_camera",
        "Vivotek",
        "IB9360-H",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            wsd_hello,
            types="dn:NetworkVideoTransmitter tds:Device",
            scopes="onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/IB9360-H onvif://www.onvif.org/name/VIVOTEK",
        ),
    ),
    # ---------------- VoIP phones ----------------
    _p(
        "yealink-t46s",
        "80:5e:0c:11:22:33",
        "voip_phone",
        "Yealink",
        "SIP-T46S",
        "66.85.0.5",
        _w(
            dhcp,
            hostname="SIP-T46S",
            prl=[1, 2, 3, 6, 12, 15, 28, 42, 43, 66, 120, 121, 132],
            vc="yealink",
        ),
        _w(
            lldp,
            name="SIP-T46S",
            descr="SIP-T46S",
            caps=(LLDP_BRIDGE | LLDP_PHONE, LLDP_PHONE),
            med_class=3,
            inventory={
                5: "Hardware Version 28.0.0.128.0.0.0",
                7: "66.85.0.5",
                9: "Yealink",
                10: "SIP-T46S",
            },
        ),
        _w(sip_register, ua="Yealink SIP-T46S 66.85.0.5"),
    ),
    _p(
        "yealink-t54w",
        "24:9a:d8:44:55:66",
        "voip_phone",
        "Yealink",
        "SIP-T54W",
        "96.86.0.70",
        _w(
            dhcp,
            hostname="SIP-T54W",
            vc="yealink",
            prl=[1, 2, 3, 6, 12, 15, 28, 42, 43, 66, 120, 121, 132],
        ),
        _w(sip_register, ua="Yealink SIP-T54W 96.86.0.70"),
    ),
    _p(
        "poly-vvx410",
        "64:16:7f:01:02:03",
        "voip_phone",
        "Poly",
        "VVX_410",
        "5.9.0.9373",
        _w(dhcp, vc="Polycom-VVX410", prl=[1, 3, 6, 15, 42, 43, 66, 150, 160]),
        _w(sip_register, ua="PolycomVVX-VVX_410-UA/5.9.0.9373"),
    ),
    _p(
        "poly-spip650",
        "00:04:f2:0a:0b:0c",
        "voip_phone",
        "Poly",
        "SPIP_650",
        "4.0.14.1388",
        _w(dhcp, prl=[1, 3, 6, 15, 42, 43, 66, 150, 160]),
        _w(sip_register, ua="PolycomSoundPointIP-SPIP_650-UA/4.0.14.1388"),
        _w(http_server, server="Polycom SoundPoint IP Telephone HTTPd"),
    ),
    _p(
        "cisco-cp7821",
        "00:1e:7a:26:74:75",
        "voip_phone",
        "Cisco",
        "CP-7821",
        "11.0",
        _w(
            dhcp,
            hostname="SEP001E7A267475",
            vc="Cisco Systems, Inc. IP Phone CP-7821",
            prl=[1, 3, 6, 15, 42, 66, 150],
        ),
        _w(
            cdp,
            device_id="SEP001E7A267475",
            platform="Cisco IP Phone 7821",
            software="sip78xx.11-0-1MN-367",
            caps=0x490,
        ),
        _w(sip_register, ua="Cisco-CP7821/11.0"),
    ),
    _p(
        "cisco-cp8845",
        "00:1b:67:45:67:89",
        "voip_phone",
        "Cisco",
        "CP8845",
        "12.8.1",
        _w(
            cdp,
            device_id="SEP001B67456789",
            platform="Cisco IP Phone 8845",
            software="sip88xx.12-8-1-0001-455",
            caps=0x490,
        ),
        _w(sip_register, ua="Cisco-CP8845/12.8.1"),
    ),
    _p(
        "grandstream-gxp2170",
        "00:0b:82:a1:b2:c3",
        "voip_phone",
        "Grandstream",
        "GXP2170",
        "1.0.11.23",
        _w(dhcp, prl=[1, 3, 6, 15, 42, 43, 66, 150]),
        _w(sip_register, ua="Grandstream GXP2170 1.0.11.23"),
    ),
    _p(
        "fanvil-x4u",
        "0c:38:3e:12:34:56",
        "voip_phone",
        "Fanvil",
        "X4U",
        "2.12.1",
        _w(dhcp, prl=[1, 3, 6, 15, 42, 43, 66]),
        _w(sip_register, ua="Fanvil X4U 2.12.1"),
    ),
    _p(
        "mitel-6867i",
        "00:10:bc:65:43:21",
        "voip_phone",
        "Mitel",
        "6867i",
        "5.1.0.1024",
        _w(dhcp, vc="AastraIPPhone6867i", prl=[1, 3, 6, 15, 42, 43, 66]),
        _w(sip_register, ua="Aastra 6867i/5.1.0.1024"),
    ),
    _p(
        "obihai-obi200",
        "9c:ad:ef:11:22:33",
        "voip_phone",
        "Obihai",
        "OBi200",
        "3.2.1.5757",
        _w(dhcp, prl=[1, 3, 6, 15, 42, 66]),
        _w(sip_register, ua="OBIHAI/OBi200-3.2.1.5757"),
    ),
    # held out: Snom, LLDP-MED inventory only (no Snom SIP rule exists)
    _p(
        "snom-d785",
        "00:04:13:2a:3b:4c",
        "voip_phone",
        "Snom",
        "D785",
        "10.1.54.13",
        _w(dhcp, hostname="snomD785-2A3B4C", prl=[1, 3, 6, 15, 42, 43, 66]),
        _w(
            lldp,
            name="snomD785-2A3B4C",
            descr="snomD785",
            caps=(LLDP_BRIDGE | LLDP_PHONE, LLDP_PHONE),
            med_class=3,
            inventory={5: "D785-V1", 7: "10.1.54.13", 9: "Snom Technology GmbH", 10: "D785"},
        ),
        _w(sip_register, ua="snom D785/10.1.54.13"),
    ),
    _p(
        "snom-d735",
        "00:04:13:5d:6e:7f",
        "voip_phone",
        "Snom",
        "D735",
        "10.1.73.16",
        _w(
            lldp,
            name="snomD735-5D6E7F",
            descr="snomD735",
            caps=(LLDP_BRIDGE | LLDP_PHONE, LLDP_PHONE),
            med_class=3,
            inventory={7: "10.1.73.16", 9: "Snom Technology GmbH", 10: "D735"},
        ),
        _w(sip_register, ua="snom D735/10.1.73.16"),
    ),
    # ---------------- smart TVs and streaming ----------------
    _p(
        "roku-ultra",
        "b0:a7:37:01:02:03",
        "smart_tv",
        "Roku",
        None,
        "9.3.0",
        _w(dhcp, hostname="Roku-YN00AB123456", prl=LINUX_PRL),
        _w(
            ssdp,
            server="Roku/9.3.0 UPnP/1.0 Roku/9.3.0",
            nt="roku:ecp",
            usn="uuid:roku:ecp:YN00AB123456",
        ),
    ),
    _p(
        "chromecast",
        "f4:f5:d8:0a:0b:0c",
        "smart_tv",
        "Google",
        "Chromecast Ultra",
        None,
        _w(dhcp, hostname="Chromecast-Ultra", prl=[1, 3, 6, 15, 28, 33, 121]),
        _w(
            mdns,
            host="f4f5d80a0b0c",
            services=[
                (
                    "_googlecast._tcp",
                    "Chromecast-Ultra-0123456789abcdef",
                    8009,
                    {
                        "id": "0123456789abcdef",
                        "md": "Chromecast Ultra",
                        "fn": "Meeting Room TV",
                        "ve": "05",
                    },
                )
            ],
        ),
    ),
    _p(
        "samsung-tv",
        "8c:79:f5:12:34:56",
        "smart_tv",
        "Samsung",
        None,
        None,
        _w(dhcp, prl=LINUX_PRL),
        _w(
            ssdp,
            server="SHP, UPnP/1.0, Samsung UPnP SDK/1.0",
            nt="urn:dial-multiscreen-org:service:dial:1",
            usn="uuid:0ee7d0f0-0bc6-1000-ad1a-8c79f5123456::urn:dial-multiscreen-org:service:dial:1",
        ),
    ),
    _p(
        "lg-webos",
        "3c:cd:93:65:87:09",
        "smart_tv",
        "LG Electronics",
        None,
        None,
        _w(dhcp, hostname="LGwebOSTV", prl=LINUX_PRL),
        _w(
            ssdp,
            server="WebOS/1.5 UPnP/1.0 webOSTV/1.0",
            nt="urn:dial-multiscreen-org:service:dial:1",
            usn="uuid:a7f5b3c2-1d2e-4f5a-b6c7-3ccd93658709::urn:dial-multiscreen-org:service:dial:1",
        ),
    ),
    _p(
        "appletv",
        "f0:b3:ec:01:23:45",
        "smart_tv",
        "Apple",
        "AppleTV6,2",
        None,
        _w(dhcp, hostname="Conference-Room-Apple-TV", prl=IOS_PRL),
        _w(
            mdns,
            host="Conference-Room-Apple-TV",
            services=[
                (
                    "_airplay._tcp",
                    "Conference Room",
                    7000,
                    {"deviceid": "F0:B3:EC:01:23:45", "model": "AppleTV6,2", "srcvers": "565.1.4"},
                )
            ],
        ),
    ),
    _p(
        "bravia-androidtv",
        "ac:9b:0a:a5:0b:38",
        "smart_tv",
        "Sony",
        "BRAVIA 4K GB",
        "Android 9",
        _w(
            http_client,
            ua="Dalvik/2.1.0 (Linux; U; Android 9; BRAVIA 4K GB Build/PTT1.190515.001.S52)",
        ),
        _w(
            mdns,
            host="Android-2",
            services=[
                (
                    "_googlecast._tcp",
                    "BRAVIA-4K-GB-abcdef",
                    8009,
                    {"md": "BRAVIA 4K GB", "fn": "Lobby TV"},
                ),
                ("_androidtvremote2._tcp", "Lobby TV", 6466, {"bt": "AC:9B:0A:A5:0B:39"}),
            ],
        ),
    ),
    _p(
        "firetv",
        "00:71:47:33:44:55",
        "smart_tv",
        "Amazon",
        "AFTMM",
        "Android 7.1.2",
        _w(dhcp, hostname="amazon-3a9f2c1d7", prl=[1, 3, 6, 15, 26, 28, 51, 58, 59, 43]),
        _w(http_client, ua="Dalvik/2.1.0 (Linux; U; Android 7.1.2; AFTMM Build/NS6264)"),
    ),
    # ---------------- conferencing ----------------
    _p(
        "poly-trio8800",
        "64:16:7f:aa:bb:cc",
        "conferencing",
        "Poly",
        "Trio_8800",
        "5.9.1.10419",
        _w(dhcp, prl=[1, 3, 6, 15, 42, 43, 66, 150, 160]),
        _w(sip_register, ua="PolycomRealPresenceTrio-Trio_8800-UA/5.9.1.10419"),
    ),
    _p(
        "yealink-cp960",
        "80:5e:0c:77:88:99",
        "conferencing",
        "Yealink",
        "CP960",
        "73.85.0.5",
        _w(dhcp, vc="yealink", prl=[1, 2, 3, 6, 12, 15, 28, 42, 43, 66, 120, 121, 132]),
        _w(sip_register, ua="Yealink CP960 73.85.0.5"),
    ),
    _p(
        "cisco-roomkit",
        "00:1b:67:ab:cd:ef",
        "conferencing",
        "Cisco",
        None,
        "ce9.15.3.17",
        _w(sip_register, ua="TANDBERG/529 (ce9.15.3.17 4a5f2e6ab1c) Cisco Webex Room Kit"),
    ),
    # ---------------- audio ----------------
    _p(
        "sonos-one",
        "34:7e:5c:12:34:56",
        "audio",
        "Sonos",
        "S18",
        "57.3-77280",
        _w(dhcp, hostname="SonosZP", prl=EMBEDDED_PRL),
        _w(
            ssdp,
            server="Linux UPnP/1.0 Sonos/57.3-77280 (S18)",
            nt="urn:schemas-upnp-org:device:ZonePlayer:1",
            usn="uuid:RINCON_347E5C12345601400::urn:schemas-upnp-org:device:ZonePlayer:1",
        ),
    ),
    _p(
        "google-home-mini",
        "20:df:b9:4e:90:97",
        "audio",
        "Google",
        "Google Home Mini",
        None,
        _w(dhcp, hostname="Google-Home-Mini", prl=[1, 3, 6, 15, 28, 33, 121]),
        _w(
            mdns,
            host="20dfb94e9097",
            services=[
                (
                    "_googlecast._tcp",
                    "Google-Home-Mini-0123abcd",
                    8009,
                    {"md": "Google Home Mini", "fn": "Kitchen speaker"},
                )
            ],
        ),
    ),
    _p(
        "homepod",
        "f0:b3:ec:66:77:88",
        "audio",
        "Apple",
        "AudioAccessory5,1",
        None,
        _w(
            mdns,
            host="Lobby-HomePod",
            services=[
                (
                    "_airplay._tcp",
                    "Lobby HomePod",
                    7000,
                    {"model": "AudioAccessory5,1", "srcvers": "620.8.2"},
                )
            ],
        ),
    ),
    _p(
        "axis-c1004",
        "ac:cc:8e:65:43:21",
        "audio",
        "Axis",
        "C1004-E",
        None,
        _w(dhcp, hostname="axis-accc8e654321", prl=EMBEDDED_PRL),
        _w(
            mdns,
            host="axis-accc8e654321",
            services=[("_http._tcp", "AXIS C1004-E - ACCC8E654321", 80, {"path": "/"})],
        ),
    ),
    # ---------------- badge readers ----------------
    _p(
        "hid-edge",
        "00:06:8e:01:02:03",
        "badge_reader",
        "HID Global",
        None,
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
    ),
    _p(
        "axis-a1001",
        "ac:cc:8e:11:11:11",
        "badge_reader",
        "Axis",
        "A1001",
        None,
        _w(dhcp, hostname="axis-accc8e111111", prl=EMBEDDED_PRL),
        _w(
            mdns,
            host="axis-accc8e111111",
            services=[("_http._tcp", "AXIS A1001 - ACCC8E111111", 80, {"path": "/"})],
        ),
    ),
    # ---------------- UPS ----------------
    _p(
        "apc-nmc",
        "00:c0:b7:b0:c1:d2",
        "ups",
        "APC (Schneider Electric)",
        "AP9630",
        "6.5.6",
        _w(dhcp, hostname="apcB0C1D2", prl=EMBEDDED_PRL),
        _w(
            snmp_agent,
            descr="APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.5.6 PN:apc_hw05_aos_656.bin AF1:v6.5.6 AN1:apc_hw05_sumx_656.bin MN:AP9630 HR:05 SN: ZA1234567890 MD:01/02/2018)",
            oid="1.3.6.1.4.1.318.1.3.27",
        ),
    ),
    _p(
        "eaton-nmc",
        "00:20:85:12:34:56",
        "ups",
        "Eaton",
        None,
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(snmp_agent, descr="Eaton Gigabit Network Card", oid="1.3.6.1.4.1.534.1"),
    ),
    _p(
        "tripplite",
        "00:06:67:ab:cd:ef",
        "ups",
        "Tripp Lite",
        None,
        None,
        _w(snmp_agent, descr="Tripp Lite PowerAlert SNMPWEBCARD", oid="1.3.6.1.4.1.850.1"),
    ),
    # ---------------- BMS / thermostats ----------------
    _p(
        "niagara-jace",
        "00:01:f0:12:34:56",
        "bms",
        "Tridium",
        None,
        "4.10.1.36",
        _w(http_server, server="Niagara Web Server/4.10.1.36"),
    ),
    _p(
        "nest-thermostat",
        "18:b4:30:26:34:40",
        "bms",
        "Google",
        "Nest Thermostat",
        None,
        _w(
            mdns,
            host="Nest-Thermostat",
            services=[
                (
                    "_hap._tcp",
                    "Nest Thermostat 3F2A",
                    80,
                    {
                        "c#": "2",
                        "ff": "0",
                        "id": "3F:2A:11:22:33:44",
                        "md": "Nest Thermostat",
                        "s#": "1",
                        "sf": "0",
                        "ci": "9",
                    },
                )
            ],
        ),
    ),
    # held out: ecobee, HomeKit category only
    _p(
        "ecobee3-lite",
        "44:61:32:01:02:03",
        "bms",
        "ecobee",
        "ecobee3 lite",
        None,
        _w(dhcp, hostname="ecobee", prl=EMBEDDED_PRL),
        _w(
            mdns,
            host="ecobee3-lite-0203",
            services=[
                (
                    "_hap._tcp",
                    "My ecobee",
                    1200,
                    {
                        "c#": "3",
                        "ff": "1",
                        "id": "44:61:32:01:02:03",
                        "md": "ecobee3 lite",
                        "s#": "1",
                        "sf": "0",
                        "ci": "9",
                    },
                )
            ],
        ),
    ),
    _p(
        "ecobee-smart",
        "44:61:32:0a:0b:0c",
        "bms",
        "ecobee",
        "ecobee Smart Thermostat",
        None,
        _w(
            mdns,
            host="ecobee-0b0c",
            services=[
                (
                    "_hap._tcp",
                    "Office Thermostat",
                    1200,
                    {
                        "c#": "5",
                        "ff": "1",
                        "id": "44:61:32:0A:0B:0C",
                        "md": "ecobee Smart Thermostat",
                        "s#": "1",
                        "sf": "0",
                        "ci": "9",
                    },
                )
            ],
        ),
    ),
    # ---------------- network devices ----------------
    _p(
        "cisco-c3560",
        "00:19:06:ea:b8:85",
        "switch",
        "Cisco",
        "WS-C3560G-24PS",
        "12.2(25)SEB4",
        _w(
            cdp,
            device_id="sw-branch-1",
            platform="cisco WS-C3560G-24PS",
            caps=0x28,
            software="Cisco Internetwork Operating System Software IOS (tm) C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(25)SEB4, RELEASE SOFTWARE (fc1)",
        ),
    ),
    _p(
        "procurve-2600",
        "00:13:21:57:ca:7f",
        "switch",
        "HP",
        "Switch 2600-8-PWR",
        "H.08.89",
        _w(
            lldp,
            name="ProCurve Switch 2600-8-PWR",
            descr="ProCurve J8762A Switch 2600-8-PWR, revision H.08.89, ROM H.08.5X (/sw/code/build/fish(ts_08_5))",
            caps=(LLDP_BRIDGE, LLDP_BRIDGE),
        ),
    ),
    _p(
        "tplink-sg108e",
        "50:c7:bf:12:34:56",
        "switch",
        "TP-Link",
        "TL-SG108E",
        None,
        _w(dhcp, hostname="TL-SG108E", vc="TL-SG108E", prl=[1, 3, 6, 15]),
    ),
    _p(
        "unifi-ap",
        "78:45:58:12:34:56",
        "access_point",
        "Ubiquiti",
        "UAP-AC-Pro",
        "6.5.28.14491",
        _w(dhcp, vc="ubnt", prl=[1, 3, 6, 12, 15, 28, 42, 43]),
        _w(
            lldp,
            name="ap-lobby",
            descr="UAP-AC-Pro, 6.5.28.14491",
            caps=(LLDP_BRIDGE | LLDP_AP, LLDP_AP),
        ),
    ),
    _p(
        "aruba-ap",
        "00:0b:86:64:8b:a0",
        "access_point",
        "HPE Aruba",
        None,
        None,
        _w(dhcp, vc="ArubaAP", prl=[1, 3, 6, 12, 15, 28, 42, 43, 60]),
    ),
    _p(
        "cisco-ap",
        "00:1b:67:02:46:8a",
        "access_point",
        "Cisco",
        "AIR-CAP2702I-E-K9",
        None,
        _w(dhcp, vc="Cisco AP c2700", prl=[1, 3, 6, 15, 43]),
        _w(
            cdp,
            device_id="ap-2f-east",
            platform="cisco AIR-CAP2702I-E-K9",
            caps=0x19,
            software="Cisco IOS Software, C2700 Software (AP3G2-K9W8-M), Version 15.3(3)JD4, RELEASE SOFTWARE (fc1)",
        ),
    ),
    _p(
        "cisco-isr",
        "00:1b:67:13:57:9b",
        "router",
        "Cisco",
        "ISR4331/K9",
        None,
        _w(
            cdp,
            device_id="rtr-branch",
            platform="cisco ISR4331/K9",
            caps=0x29,
            software="Cisco IOS Software [Fuji], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 16.9.5, RELEASE SOFTWARE (fc1)",
        ),
    ),
    _p(
        "netgear-igd",
        "a0:40:a0:12:34:56",
        "router",
        "Netgear",
        None,
        None,
        _w(
            ssdp,
            server="Linux/2.6.36.4brcmarm UPnP/1.0 MiniUPnPd/1.4",
            nt="urn:schemas-upnp-org:device:InternetGatewayDevice:1",
            usn="uuid:824ff22b-8c7d-41c5-a131-a040a0123456::urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        ),
    ),
    # held out: Ruckus, LLDP capabilities and registry only
    _p(
        "ruckus-r510",
        "00:13:92:3c:4d:5e",
        "access_point",
        "Ruckus",
        None,
        None,
        _w(dhcp, prl=[1, 3, 6, 12, 15, 28, 42, 43]),
        _w(
            lldp,
            name="RuckusAP",
            descr="Ruckus R510 Multimedia Hotzone Wireless AP/SW Version: 5.2.1.0.1036",
            caps=(LLDP_BRIDGE | LLDP_AP, LLDP_AP),
        ),
    ),
    _p(
        "ruckus-r650",
        "00:1d:2e:6f:70:81",
        "access_point",
        "Ruckus",
        None,
        None,
        _w(
            lldp,
            name="RuckusAP",
            descr="Ruckus R650 Multimedia Hotzone Wireless AP/SW Version: 6.1.0.0.9240",
            caps=(LLDP_BRIDGE | LLDP_AP, LLDP_AP),
        ),
    ),
    # ---------------- computers and phones (negatives for the IoT types) ----------------
    _p(
        "dell-win10",
        "00:14:22:aa:bb:cc",
        "workstation",
        "Dell",
        None,
        None,
        _w(dhcp, hostname="DESKTOP-4F2K9QJ", vc="MSFT 5.0", prl=WIN10_PRL),
        _w(
            http_client,
            ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        ),
    ),
    _p(
        "macbook",
        "a4:83:e7:12:34:56",
        "workstation",
        "Apple",
        "MacBookPro16,1",
        None,
        _w(dhcp, hostname="Annas-MacBook-Pro", prl=MACOS_PRL),
        _w(
            mdns,
            host="Annas-MacBook-Pro",
            services=[
                (
                    "_device-info._tcp",
                    "Anna's MacBook Pro",
                    0,
                    {"model": "MacBookPro16,1", "osxvers": "21"},
                )
            ],
        ),
    ),
    _p(
        "iphone",
        "5a:11:22:33:44:55",
        "mobile",
        "Apple",
        None,
        None,
        _w(dhcp, hostname="Annas-iPhone", prl=IOS_PRL),
        _w(http_client, ua="CaptiveNetworkSupport-443.40.1 wispr"),
    ),
    _p(
        "galaxy-s21",
        "d2:aa:bb:cc:dd:ee",
        "mobile",
        "Samsung",
        "SM-G991B",
        "Android 13",
        _w(
            dhcp,
            hostname="Galaxy-S21",
            vc="android-dhcp-13",
            prl=[1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114],
        ),
        _w(http_client, ua="Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)"),
    ),
    _p(
        "windows-server",
        "00:25:90:12:34:56",
        "server",
        None,
        None,
        "Windows Version 6.3",
        _w(dhcp, hostname="WIN-8QH3K1P0ABC", vc="MSFT 5.0", prl=WIN10_PRL),
        _w(
            snmp_agent,
            descr="Hardware: Intel64 Family 6 Model 85 Stepping 4 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)",
            oid="1.3.6.1.4.1.311.1.1.3.1.3",
        ),
    ),
    # a Linux host: its SNMP agent states the kernel, nothing states what it is used for
    _p(
        "linux-host",
        "00:25:90:65:43:21",
        None,
        None,
        None,
        "Linux 5.15.0-91-generic",
        _w(
            snmp_agent,
            descr="Linux files01 5.15.0-91-generic #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 x86_64",
            oid="1.3.6.1.4.1.8072.3.2.10",
        ),
    ),
    # held out: Lenovo laptops, Windows DHCP identity and registry only
    _p(
        "lenovo-t14",
        "10:c5:95:12:34:56",
        "workstation",
        "Lenovo",
        None,
        None,
        _w(dhcp, hostname="LAPTOP-7HQ2M4KD", vc="MSFT 5.0", prl=WIN10_PRL),
    ),
    _p(
        "lenovo-m720",
        "80:96:21:ab:cd:ef",
        "workstation",
        "Lenovo",
        None,
        None,
        _w(dhcp, hostname="DESKTOP-9PLK3ZT", vc="MSFT 5.0", prl=WIN10_PRL),
    ),
    # ---------------- IoT other ----------------
    _p(
        "hue-bridge",
        "00:17:88:24:76:ff",
        "iot_other",
        "Philips",
        "BSB002",
        "IpBridge/1.17.0",
        _w(dhcp, hostname="Philips-hue", prl=EMBEDDED_PRL),
        _w(
            ssdp,
            server="Linux/3.14.0 UPnP/1.0 IpBridge/1.17.0",
            nt="upnp:rootdevice",
            usn="uuid:2f402f80-da50-11e1-9b23-00178824 76ff::upnp:rootdevice",
        ),
    ),
    _p(
        "wemo-switch",
        "94:10:3e:34:0c:b5",
        "iot_other",
        "Belkin",
        None,
        None,
        _w(dhcp, hostname="wemo", prl=EMBEDDED_PRL),
        _w(
            ssdp,
            server="Unspecified, UPnP/1.0, Unspecified",
            nt="urn:Belkin:device:controllee:1",
            usn="uuid:Socket-1_0-221517K0101769::urn:Belkin:device:controllee:1",
        ),
    ),
    _p(
        "kasa-hs110",
        "50:c7:bf:aa:bb:cc",
        "iot_other",
        "TP-Link",
        "HS110",
        None,
        _w(dhcp, hostname="HS110", prl=EMBEDDED_PRL),
    ),
    _p(
        "tivo-roamio",
        "00:11:d9:3c:4d:5e",
        "smart_tv",
        "TiVo",
        "Series5",
        "20.7.4d.RC15-846-6-846",
        _w(dhcp, prl=LINUX_PRL),
        _w(
            tivo_beacon,
            platform="tcd/Series5",
            machine="Lobby",
            swversion="20.7.4d.RC15-846-6-846",
            tsn="84600119023FFD0",
        ),
    ),
    _p(
        "dahua-camera",
        "3c:ef:8c:5a:6b:7c",
        "ip_camera",
        "Dahua",
        None,
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(rtsp_server, server="Dahua Rtsp Server"),
    ),
    _p(
        "hikvision-face-terminal",
        "44:19:b6:2d:3e:4f",
        "badge_reader",
        "Hikvision",
        "DS-K1T671M",
        "V3.2.30build 220712",
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            sadp_reply,
            model="DS-K1T671M",
            serial="DS-K1T671M20220801V030230ENJ12345678",
            version="V3.2.30build 220712",
        ),
    ),
    _p(
        "unifi-switch",
        "78:45:58:9a:bc:de",
        "switch",
        "Ubiquiti",
        "USW-Lite-16-PoE",
        "6.5.59.14776",
        _w(dhcp, vc="ubnt", prl=[1, 3, 6, 12, 15, 28, 42, 43]),
        _w(
            ubnt_announce,
            product="USL16LP",
            model="USW-Lite-16-PoE",
            version="6.5.59.14776",
            full="USL16LP.rtl838x.v6.5.59.14776.230509.1230",
        ),
    ),
    _p(
        "crestron-cp4",
        "00:10:7f:eb:53:8f",
        "conferencing",
        "Crestron",
        "CP4",
        "2.4474.00005",
        _w(dhcp, hostname="CP4-BOARDROOM", prl=EMBEDDED_PRL),
        _w(
            crestron_answer,
            host="CP4-BOARDROOM",
            line="CP4 Cntrl Eng [v2.4474.00005 (Apr  9 2020), #8EB216B7] @E-00107feb538f",
        ),
    ),
    _p(
        "lorex-camera",
        "00:1f:54:a9:2e:58",
        "ip_camera",
        "Lorex",
        "W461ASC",
        "2.800.030000000.3.R",
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            dhip_answer,
            info={
                "DeviceClass": "IPC",
                "DeviceType": "W461ASC",
                "HttpPort": 80,
                "Manufacturer": "Private",
                "SerialNo": "ND0123456789",
                "Vendor": "Lorex",
                "Version": "2.800.030000000.3.R",
                "VideoInputChannels": 1,
            },
        ),
    ),
    # ---------------- a scanner: probes phones, agents and printers, is none of them -------
    _p("scanner", "08:00:27:c4:76:6b", None, None, None, None, scanner_probes),
    # ---------------- fifth session: more strings devices send (after the scanner, so the
    # earlier personas keep their addresses). The strings are the devices' own, as listed in
    # Rapid7 Recog's examples (BSD-2): sysDescr, DHCP vendor class, SIP User-Agent, Telnet.
    # Meraki MR access point: its SNMP sysDescr. sysObjectID: Meraki's IANA enterprise arc
    # (29671); the product suffix is illustrative.
    _p(
        "meraki-mr46e",
        "e0:55:3d:4a:5b:6c",
        "access_point",
        "Cisco Meraki",
        "MR46E",
        None,
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(snmp_agent, descr="Meraki MR46E Cloud Managed AP", oid="1.3.6.1.4.1.29671.2.1"),
    ),
    # ArubaOS-Switch: DHCP option 60 names the SKU and model.
    _p(
        "aruba-2930f",
        "88:3a:30:7c:8d:9e",
        "switch",
        "HPE Aruba",
        "2930F-48G-PoE+-4SFP+",
        None,
        _w(dhcp, vc="Aruba JL256A 2930F-48G-PoE+-4SFP+ Switch", prl=EMBEDDED_PRL),
    ),
    # Axis camera: DHCP option 60 "AXIS,<kind>,<model>,<firmware>".
    _p(
        "axis-p3343",
        "00:40:8c:5d:6e:7f",
        "ip_camera",
        "Axis",
        "P3343",
        "5.20.3",
        _w(dhcp, vc="AXIS,Network Camera,P3343,5.20.3", prl=EMBEDDED_PRL),
    ),
    # Cisco SPA112 analogue telephone adapter: DHCP option 60 "CISCO SPA112".
    _p(
        "cisco-spa112",
        "58:8d:09:6e:7f:80",
        "voip_phone",
        "Cisco",
        "SPA112",
        None,
        _w(dhcp, vc="CISCO SPA112", prl=EMBEDDED_PRL),
    ),
    # Polycom RealPresence Group 700 room system registering to the PBX.
    _p(
        "polycom-group700",
        "00:04:f2:7f:80:91",
        "conferencing",
        "Poly",
        "RealPresence Group 700",
        "6.2.0",
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(sip_register, ua="PolycomRealPresenceGroup700/6.2.0", user="2700"),
    ),
    # Sharp MFP: its Telnet banner names model and firmware.
    _p(
        "sharp-mx3610n",
        "00:22:f3:80:91:a2",
        "printer",
        "Sharp",
        "MX-3610N",
        "01.05.00.0o.18",
        _w(dhcp, prl=EMBEDDED_PRL),
        _w(
            telnet_server,
            banner="SHARP MX-3610N Ver 01.05.00.0o.18 TELNET server.\r\n"
            "Copyright(C) 2005-     SHARP CORPORATION\r\nlogin: ",
        ),
    ),
]


def _assign(personas: list[Persona]) -> None:
    for n, p in enumerate(personas, start=1):
        p.index = n
        p.ip = f"10.20.{1 + n // 200}.{10 + n % 200}"


def generate(out: Path) -> list[dict[str, Any]]:
    """Write every persona's capture and the labels files; return the labels."""
    _assign(PERSONAS)
    captures = out / "captures"
    captures.mkdir(parents=True, exist_ok=True)
    labels: list[dict[str, Any]] = []
    for p in PERSONAS:
        frames = [f for send in p.sends for f in send(p)]
        path = captures / f"{p.name}.pcap"
        writer = PcapWriter(str(path), linktype=1, sync=False)
        try:
            for i, frame in enumerate(frames):
                frame.time = T0 + p.index * 10 + i * 0.25
                writer.write(frame)
        finally:
            writer.close()
        labels.append({
            "file": f"captures/{p.name}.pcap", "mac": p.mac, "ip": p.ip, "type": p.type,
            "vendor": p.vendor, "model": p.model, "firmware": p.firmware,
            "split": "heldout" if p.heldout else "in_sample",
        })  # fmt: skip
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    held = [label for label in labels if label["split"] == "heldout"]
    (out / "labels-heldout.json").write_text(json.dumps(held, indent=1) + "\n")
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the labelled persona captures")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    labels = generate(args.out)
    held = sum(label["split"] == "heldout" for label in labels)
    print(f"{len(labels)} personas ({held} held out) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
