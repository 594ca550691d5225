"""The demo branch office: every persona capture merged into one capture, plus a risk
scenario built here (synthetic, stated as such) so that each finding family shows up:

- the Hikvision NVR serves Telnet that drops straight into a BusyBox shell (telnet-enabled,
  telnet-no-auth);
- the APC UPS serves Telnet with its "User Name :" login prompt (telnet-enabled only);
- the Tridium JACE serves VNC offering security type None (vnc-no-auth);
- the scanner SYN-scans 30 ports of the HP printer (port-scan).

`expected_findings()` lists (rule_id, MAC) pairs the sensor must report for this scenario;
the persona labels (labels.json) give the device truth. Nothing here imports capture/.
"""

from __future__ import annotations

import json
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import rdpcap, wrpcap

HERE = Path(__file__).resolve().parent
GATEWAY_MAC = "00:00:0c:07:ac:01"
ADMIN = ("00:25:90:65:43:21", "10.20.1.80")  # the Linux admin host of the personas
NVR = ("08:54:11:aa:bb:cc", "10.20.1.26")
UPS = ("00:c0:b7:b0:c1:d2", "10.20.1.58")
JACE = ("00:01:f0:12:34:56", "10.20.1.61")
SCANNER = ("08:00:27:c4:76:6b", "10.20.1.86")
PRINTER = ("a0:8c:fd:3a:7b:3c", "10.20.1.11")

IAC_WILL_ECHO = b"\xff\xfb\x01"
IAC_WILL_SGA = b"\xff\xfb\x03"


def _tcp_session(
    client: tuple[str, str], server: tuple[str, str], sport: int, dport: int,
    server_says: list[bytes], t0: float,
) -> list[Packet]:  # fmt: skip
    """A TCP handshake then server segments, as a mirror port sees them."""
    c = Ether(src=client[0], dst=server[0]) / IP(src=client[1], dst=server[1])
    s = Ether(src=server[0], dst=client[0]) / IP(src=server[1], dst=client[1])
    seq_c, seq_s = 1000, 5000
    packets: list[Packet] = [
        c / TCP(sport=sport, dport=dport, flags="S", seq=seq_c),
        s / TCP(sport=dport, dport=sport, flags="SA", seq=seq_s, ack=seq_c + 1),
        c / TCP(sport=sport, dport=dport, flags="A", seq=seq_c + 1, ack=seq_s + 1),
    ]
    seq_s += 1
    for data in server_says:
        packets.append(
            s / TCP(sport=dport, dport=sport, flags="PA", seq=seq_s, ack=seq_c + 1) / Raw(data)
        )
        seq_s += len(data)
    for i, pkt in enumerate(packets):
        pkt.time = t0 + i * 0.01
    return packets


def risk_packets(t0: float) -> list[Packet]:
    packets = []
    # Telnet straight to a root shell (no login prompt before the prompt).
    packets += _tcp_session(ADMIN, NVR, 50001, 23,
                            [IAC_WILL_ECHO + IAC_WILL_SGA, b"\r\nBusyBox v1.19.3 built-in shell (ash)\r\n# "],
                            t0)  # fmt: skip
    # Telnet with a login prompt (APC Network Management Card style).
    packets += _tcp_session(ADMIN, UPS, 50002, 23,
                            [IAC_WILL_ECHO + IAC_WILL_SGA, b"\r\nUser Name : "], t0 + 1)  # fmt: skip
    # RFB 3.8 offering security types None (1) and VNC authentication (2); the client picks None.
    jace = _tcp_session(ADMIN, JACE, 50003, 5900, [b"RFB 003.008\n"], t0 + 2)
    c = Ether(src=ADMIN[0], dst=JACE[0]) / IP(src=ADMIN[1], dst=JACE[1])
    s = Ether(src=JACE[0], dst=ADMIN[0]) / IP(src=JACE[1], dst=ADMIN[1])
    more: list[Packet] = [
        c / TCP(sport=50003, dport=5900, flags="PA", seq=1001, ack=5013) / Raw(b"RFB 003.008\n"),
        s / TCP(sport=5900, dport=50003, flags="PA", seq=5013, ack=1013) / Raw(b"\x02\x01\x02"),
        c / TCP(sport=50003, dport=5900, flags="PA", seq=1013, ack=5016) / Raw(b"\x01"),
        s / TCP(sport=5900, dport=50003, flags="PA", seq=5016, ack=1014) / Raw(b"\x00\x00\x00\x00"),
    ]
    for i, pkt in enumerate(more):
        pkt.time = t0 + 2.5 + i * 0.01
    packets += jace + more
    # A SYN scan of 30 ports of the printer within a few seconds.
    for i, port in enumerate(range(20, 50)):
        pkt = (
            Ether(src=SCANNER[0], dst=PRINTER[0])
            / IP(src=SCANNER[1], dst=PRINTER[1])
            / TCP(sport=40000 + i, dport=port, flags="S")
        )
        pkt.time = t0 + 5 + i * 0.05
        packets.append(pkt)
    return packets


def expected_findings() -> list[tuple[str, str]]:
    """(rule_id, MAC of the device concerned) the sensor must report for the scenario."""
    return [
        ("telnet-enabled", NVR[0]),
        ("telnet-no-auth", NVR[0]),
        ("telnet-enabled", UPS[0]),
        ("vnc-no-auth", JACE[0]),
        ("port-scan", SCANNER[0]),
    ]


def write_branch_capture(out: Path) -> int:
    """Merge the persona captures and the risk scenario into `out`; returns the packet count."""
    packets: list[Packet] = []
    for path in sorted((HERE / "captures").glob("*.pcap")):
        packets += list(rdpcap(str(path)))
    last = max(float(p.time) for p in packets)
    packets += risk_packets(last + 10)
    packets.sort(key=lambda p: float(p.time))
    out.parent.mkdir(parents=True, exist_ok=True)
    wrpcap(str(out), packets)
    return len(packets)


def labels() -> list[dict[str, object]]:
    """The persona labels (in-sample and held-out) of the devices in the branch capture."""
    rows: list[dict[str, object]] = []
    for name in ("labels.json", "labels-heldout.json"):
        path = HERE / name
        if path.exists():
            data = json.loads(path.read_text())
            rows += data["labels"] if isinstance(data, dict) else data
    return rows
