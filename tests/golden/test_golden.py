"""Golden files: `inspect --json` of corpus captures, and the MANIFEST.md facts they show.

The corpus (../shared/corpus) is read in place through the `corpus` fixture (skipped where
there is none, failed under CI=true). `make golden` rewrites the .jsonl files; a difference
here means the output changed: review it, then regenerate.

Each golden file was reviewed against the facts MANIFEST.md states about its capture; the
checks below encode those facts (names, addresses, services, banners, findings), so a
regenerated golden file that loses one fails even after `make golden`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.golden.regenerate import CAPTURES, GOLDEN_DIR, golden_name, render

Records = list[dict[str, Any]]


def _records(capture: str) -> Records:
    path = GOLDEN_DIR / golden_name(capture)
    return [json.loads(line) for line in path.read_text().splitlines()]


def _devices(records: Records) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in records if r["record"] == "device"}


def _findings(records: Records) -> list[dict[str, Any]]:
    return [r for r in records if r["record"] == "finding"]


def _named(records: Records, name: str) -> dict[str, Any]:
    found = [d for d in _devices(records).values() if name in d["names"]]
    assert len(found) == 1, f"one device named {name!r}, got {len(found)}"
    return found[0]


def _service(device: dict[str, Any], proto: str, port: int) -> dict[str, Any]:
    for service in device["services"]:
        if (service["proto"], service["port"]) == (proto, port):
            return dict(service)
    raise AssertionError(f"{device['key']} offers no {proto}/{port}: {device['services']}")


def _finding(records: Records, rule_id: str) -> dict[str, Any]:
    found = [f for f in _findings(records) if f["rule_id"] == rule_id]
    assert found, f"no {rule_id} finding in {[f['rule_id'] for f in _findings(records)]}"
    return found[0]


def _dhcp(r: Records) -> None:
    # DHCP client mac=90:b1:1c:99:49:29 hostname='btest.is.cool' (OUI Dell Inc.)
    client = _devices(r)["90:b1:1c:99:49:29"]
    assert client["names"] == ["btest.is.cool"]
    assert client["vendor"] == "Dell"


def _dhcp_mud(r: Records) -> None:
    # DHCP client hostname 'raspberrypi', dhcpcd vendor class of a Raspberry Pi (BCM2709).
    pi = _named(r, "raspberrypi")
    assert pi["vendor"] == "Raspberry Pi"


def _lldp_smc(r: Records) -> None:
    # LLDP system name SMCGS8P-Smart; description "... v3.20" (an SMC switch).
    switch = _named(r, "SMCGS8P-Smart")
    assert switch["type"] == "switch"


def _lldp_two_switches(r: Records) -> None:
    # LLDP system names Summit300-48 and ProCurve Switch 2600-8-PWR (revision H.08.89).
    summit = _named(r, "Summit300-48")
    procurve = _named(r, "ProCurve Switch 2600-8-PWR")
    assert summit["key"] != procurve["key"]
    assert procurve["firmware"] == "H.08.89"


def _cdp_3560(r: Records) -> None:
    # CDP device id "Switch", platform "cisco WS-C3560G-24PS", IOS 12.2(25)SEB4.
    switch = _named(r, "Switch")
    assert switch["model"] == "WS-C3560G-24PS"
    assert "12.2(25)SEB4" in switch["firmware"]


def _cdp_1601(r: Records) -> None:
    # CDPv1 device id "R1", platform "cisco 1601", IOS 11.2(12)P.
    router = _named(r, "R1")
    assert router["model"] == "1601"
    assert "11.2(12)P" in router["firmware"]


def _snmp_v1(r: Records) -> None:
    # SNMPv1 GETs with community "public" to a Xerox printer answering sysName "B6300".
    printer = _named(r, "B6300")
    assert printer["ips"] == ["172.31.19.73"]
    _service(printer, "udp", 161)
    assert _finding(r, "snmp-v1-v2")["devices"] == [printer["key"]]


def _snmp_v2c(r: Records) -> None:
    # SNMP version v2c, community 'public': the agent answering is flagged.
    agent = _devices(r)["00:19:b9:f7:4b:02"]
    _service(agent, "udp", 161)
    assert _finding(r, "snmp-v1-v2")["devices"] == [agent["key"]]


def _mdns_cups(r: Records) -> None:
    # A CUPS printer on a QEMU VM advertising _ipp._tcp / _ipps._tcp over mDNS.
    (vm,) = _devices(r).values()
    assert "mdns" in vm["protocols"]
    assert vm["names"] == ["johanna-QEMU-Virtual-Machine.local"]


def _hue(r: Records) -> None:
    # Philips Hue bridge 00:17:88:24:76:ff: mDNS TXT md=BSB002, SSDP "... IpBridge/1.9.0";
    # the Android phone 38:0b:40:ef:85:41 (SM-N7505 in its User-Agent) is a separate device.
    devices = _devices(r)
    bridge = devices["00:17:88:24:76:ff"]
    assert bridge["model"] == "BSB002"
    assert bridge["vendor"] == "Philips"
    assert "10.10.10.6" in bridge["ips"]
    assert devices["38:0b:40:ef:85:41"]["model"] == "SM-N7505"


def _wemo(r: Records) -> None:
    # Belkin WeMo 94:10:3e:34:0c:b5 at 10.10.10.190: DHCP (udhcp 0.9.8) and SSDP NOTIFY.
    wemo = _devices(r)["94:10:3e:34:0c:b5"]
    assert "10.10.10.190" in wemo["ips"]
    assert {"dhcp", "ssdp"} <= set(wemo["protocols"])
    assert wemo["vendor"] == "Belkin"


def _telnet(r: Records) -> None:
    # Telnet server: "OpenBSD/i386 (oof) (ttyp2) login: Password: ..." (text cut at the
    # password prompt, so nothing after it is kept).
    server = _devices(r)["00:00:c0:9f:a0:97"]
    banner = _service(server, "tcp", 23)["banner"]
    assert banner.startswith("OpenBSD/i386 (oof) (ttyp2) login:")
    assert "Last login" not in banner
    assert _finding(r, "telnet-enabled")["devices"] == [server["key"]]


def _nbns(r: Records) -> None:
    # NBNS names MDJR98<03> and MARTIN ROSENAU<03>; WORKGROUP<1d> is a browser role, not a name.
    host = _named(r, "MDJR98")
    assert "MARTIN ROSENAU" in host["names"]
    assert "WORKGROUP" not in host["names"]


def _llmnr(r: Records) -> None:
    # LLMNR query for hs2011: the asker does not get that name, the answering host does.
    devices = _devices(r)
    assert devices["a4:db:30:19:ad:73"]["names"] == []
    assert [n.lower() for n in devices["00:25:90:34:ee:54"]["names"]] == ["hs2011"]


def _sip(r: Records) -> None:
    # Nero SIPPS softphone REGISTER/INVITE from the LAN; the servers are remote, not devices.
    phone = _devices(r)["00:e0:ed:01:6e:bd"]
    assert "sip" in phone["protocols"]
    assert len(_devices(r)) == 1


def _tls(r: Records) -> None:
    # 84 ClientHellos from one client (browsers/OS services); the servers are remote.
    (client,) = _devices(r).values()
    assert client["protocols"] == ["tls"]


def _http_google(r: Records) -> None:
    # One HTTP request to Google (Server: gws, a remote host: not a device).
    (client,) = _devices(r).values()
    assert client["ips"] == ["172.16.16.128"]
    assert "http" in client["protocols"]


def _synscan(r: Records) -> None:
    # nmap SYN scan: 172.16.0.8 -> 64.13.134.52, 1000 distinct destination ports.
    scanner = next(d for d in _devices(r).values() if d["ips"] == ["172.16.0.8"])
    scan = _finding(r, "port-scan")
    assert scan["devices"][0] == scanner["key"]
    assert "0/64.13.134.52" in scan["devices"]  # the internet target is not a device record
    assert all("64.13.134.52" not in d["ips"] for d in _devices(r).values())


def _icmp_sweep(r: Records) -> None:
    # ICMP echo sweep from 10.0.0.128 to 256 distinct hosts.
    assert _finding(r, "icmp-sweep")["count"] == 256


def _arp_sweep(r: Records) -> None:
    # ARP who-has sweep from 08:00:27:c4:76:6b (192.168.29.14): 255 distinct targets.
    sweep = _finding(r, "arp-scan")
    assert sweep["devices"] == ["08:00:27:c4:76:6b"]
    assert "192.168.29.14" in _devices(r)["08:00:27:c4:76:6b"]["ips"]


def _rfb(r: Records) -> None:
    # macOS Screen Sharing: RFB 003.889 server (security types 30, 35) on 192.168.2.16:5900.
    server = next(d for d in _devices(r).values() if d["ips"] == ["192.168.2.16"])
    service = _service(server, "tcp", 5900)
    assert (service["name"], service["banner"]) == ("rfb", "003.889")  # server version


def _rfb_failure(r: Records) -> None:
    # RFB 3.8 handshake (server version 003.008) ending in a security failure.
    server = next(d for d in _devices(r).values() if d["ips"] == ["10.0.0.2"])
    assert _service(server, "tcp", 5900)["banner"] == "003.008"


def _ipp(r: Records) -> None:
    # CUPS/1.3.4 printing over IPP to a printer whose web server answers Virata-EmWeb/R6_2_1.
    printer = next(d for d in _devices(r).values() if d["ips"] == ["10.10.10.251"])
    assert _service(printer, "tcp", 631)["banner"] == "Virata-EmWeb/R6_2_1"
    assert printer["type"] == "printer"


def _dhcp_arista(r: Records) -> None:
    # DHCP client mac=00:00:44:01:00:00 opt60='Arista' (ZTP), plus DHCPv6 from the same MAC.
    switch = _devices(r)["00:00:44:01:00:00"]
    assert {"dhcp", "dhcpv6"} <= set(switch["protocols"])
    assert switch["vendor"] == "Arista"


def _wsd(r: Records) -> None:
    # WS-Discovery Probe/Resolve messages over UDP 3702 (IPv4 and IPv6), sent repeatedly.
    (sender,) = _devices(r).values()
    assert sender["protocols"] == ["wsd"]
    assert r[-1]["deduplicated"] > 0  # retransmitted identical messages dissected once


MANIFEST_FACTS: dict[str, Callable[[Records], None]] = {
    "zeek/dhcp__dhcp.pcap": _dhcp,
    "tcpdump/dhcp-mud.pcap": _dhcp_mud,
    "zeek/lldp.pcap": _lldp_smc,
    "arkime/wireshark-lldp.pcap": _lldp_two_switches,
    "tcpdump/3560_CDP.pcap": _cdp_3560,
    "zeek/cdp-v1.pcap": _cdp_1601,
    "zeek/snmp__snmpv1_get.pcap": _snmp_v1,
    "zeek/snmp__snmpv2_get.pcap": _snmp_v2c,
    "zeek/dns__mdns.pcap": _mdns_cups,
    "IoT_Sentinel/HueSwitch__Setup-A-5-STA.pcap": _hue,
    "IoT_Sentinel/WeMoSwitch2__Setup-C-1-STA.pcap": _wemo,
    "markofu-pcaps/telnet.pcap": _telnet,
    "arkime/nbns.pcap": _nbns,
    "suricata-verify/llmnr__llmnr-udp__input.pcap": _llmnr,
    "zeek/sip__wireshark.pcap": _sip,
    "ja4/tls-handshake.pcapng": _tls,
    "chrissanders-packets/http_google.pcapng": _http_google,
    "chrissanders-packets/synscan.pcapng": _synscan,
    "lucaderi-sgr/hs-icmpScan.pcap": _icmp_sweep,
    "nmap-scan-detection-lab/nmap_PR_sn.pcapng": _arp_sweep,
    "zeek/rfb__vncmac.pcap": _rfb,
    "suricata-verify/rfb-failure__rfb_failure_16.pcap": _rfb_failure,
    "nDPI/ipp.pcap": _ipp,
    "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap": _dhcp_arista,
    "nDPI/upnp.pcap": _wsd,
}


def test_every_golden_capture_has_manifest_facts_checked() -> None:
    assert len(CAPTURES) >= 15
    assert set(MANIFEST_FACTS) == set(CAPTURES)


@pytest.mark.corpus
@pytest.mark.parametrize("capture", CAPTURES)
def test_golden_output_is_unchanged(capture: str, corpus: Path) -> None:
    expected = (GOLDEN_DIR / golden_name(capture)).read_text().splitlines()
    actual = render(corpus / capture).splitlines()
    assert actual == expected, f"output changed: review, then `make golden` ({capture})"


@pytest.mark.parametrize("capture", CAPTURES)
def test_golden_file_shows_the_manifest_facts(capture: str) -> None:
    records = _records(capture)
    assert records[-1]["record"] == "stats"
    assert records[-1]["errors"] == {}
    MANIFEST_FACTS[capture](records)
