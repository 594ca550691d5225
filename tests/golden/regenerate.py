"""Regenerate the golden files: `branchwatch inspect --json` of corpus captures.

`make golden` runs `python -m tests.golden.regenerate`. Each capture listed in CAPTURES is read
in place from ../shared/corpus (never copied here) through the same path as `inspect`
(capture/sniffer.py → Pipeline), and its JSON Lines are written to
tests/golden/<name>.jsonl, where <name> is the corpus path with "/" replaced by "__" and the
extension dropped. Review the diff like code: test_golden.py compares against these files and
checks the facts MANIFEST.md states about each capture.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent
CORPUS = GOLDEN_DIR.parent.parent.parent / "shared" / "corpus"

# Corpus captures with golden output, by what they exercise.
CAPTURES = (
    "zeek/dhcp__dhcp.pcap",  # DHCP: client hostname, server, NAK/ACK
    "tcpdump/dhcp-mud.pcap",  # DHCP relayed, Raspberry Pi vendor class, MUD URL
    "zeek/lldp.pcap",  # LLDP from an SMC switch
    "arkime/wireshark-lldp.pcap",  # LLDP from Extreme and ProCurve switches
    "tcpdump/3560_CDP.pcap",  # CDPv2 from a Catalyst 3560G
    "zeek/cdp-v1.pcap",  # CDPv1 from a Cisco 1601 router
    "zeek/snmp__snmpv1_get.pcap",  # SNMPv1 agent (Xerox printer), community "public"
    "zeek/snmp__snmpv2_get.pcap",  # SNMPv2c
    "zeek/dns__mdns.pcap",  # mDNS: CUPS printer _ipp._tcp
    "IoT_Sentinel/HueSwitch__Setup-A-5-STA.pcap",  # mDNS _hap._tcp md=BSB002, SSDP IpBridge
    "IoT_Sentinel/WeMoSwitch2__Setup-C-1-STA.pcap",  # SSDP from a WeMo switch, DHCP
    "markofu-pcaps/telnet.pcap",  # Telnet with login and password prompts
    "arkime/nbns.pcap",  # NBNS names
    "suricata-verify/llmnr__llmnr-udp__input.pcap",  # LLMNR query
    "zeek/sip__wireshark.pcap",  # SIP softphone and servers
    "ja4/tls-handshake.pcapng",  # TLS ClientHellos (SNI, JA4)
    "chrissanders-packets/http_google.pcapng",  # HTTP request/response
    "chrissanders-packets/synscan.pcapng",  # SYN scan of 1000 ports
    "lucaderi-sgr/hs-icmpScan.pcap",  # ICMP echo sweep of a /24
    "nmap-scan-detection-lab/nmap_PR_sn.pcapng",  # ARP sweep (nmap -sn on a LAN)
    "zeek/rfb__vncmac.pcap",  # RFB/VNC handshake
    "suricata-verify/rfb-failure__rfb_failure_16.pcap",  # RFB 3.8 ending in a security failure
    "nDPI/ipp.pcap",  # IPP printing to an HP JetDirect (Virata-EmWeb)
    "tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap",  # DHCPv4 + DHCPv6 of an Arista switch (ZTP)
    "nDPI/upnp.pcap",  # WS-Discovery Probe/Resolve (repeated: de-duplicated)
)


def golden_name(capture: str) -> str:
    """tests/golden file name of a corpus capture path."""
    stem = capture.rsplit(".", 1)[0]
    return stem.replace("/", "__") + ".jsonl"


def render(path: Path) -> str:
    """The `inspect --json` output of one capture, as text (default configuration)."""
    from firmware.config import load_config
    from firmware.inspect import inspect_file, write_json

    pipeline, failure = inspect_file(str(path), load_config())
    if failure is not None:
        raise failure
    out = io.StringIO()
    write_json(out, pipeline.devices(), pipeline.findings(), pipeline.snapshot())
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Rewrite every golden file (or only the captures named in argv)."""
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 1
    wanted = set(argv if argv is not None else sys.argv[1:]) or set(CAPTURES)
    for capture in CAPTURES:
        if capture not in wanted:
            continue
        target = GOLDEN_DIR / golden_name(capture)
        text = render(CORPUS / capture)
        before = target.read_text() if target.exists() else None
        if text != before:
            target.write_text(text)
        state = "unchanged" if text == before else "written"
        print(f"{state:9s} {target.relative_to(GOLDEN_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
