"""Capture-file readers of capture/sniffer.py: pcap in both byte orders and both timestamp
resolutions, pcapng with several interfaces and sections, damage reported at the right byte
offset after the good packets, and real corpus files against MANIFEST.md's packet counts.

The files are written here byte by byte from the format specifications (libpcap's pcap-savefile
format; draft-ietf-opsawg-pcapng), independently of the reader.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import PcapNgWriter, PcapWriter

from capture.errors import CaptureFileError
from capture.sniffer import CaptureReader, LiveSource, RawPacket, open_capture

FRAMES = [
    bytes(Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / IP() / UDP(dport=67)),
    bytes(Ether() / Dot1Q(vlan=42) / IP() / UDP(dport=5353)),
    b"\x45" + bytes(27),  # a raw IPv4 header (linktype 101)
]


def pcap_bytes(
    records: list[tuple[int, int, bytes, int]],
    *,
    order: str = "<",
    nano: bool = False,
    linktype: int = 1,
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data, wire_len in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), wire_len) + data
    return out


def block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


def shb(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(order: str, linktype: int, tsresol: int | None = None) -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, 0)
    if tsresol is not None:
        body += struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
        body += struct.pack(order + "HH", 0, 0)
    return block(order, 1, body)


def epb(order: str, if_id: int, ticks: int, data: bytes, wire_len: int | None = None) -> bytes:
    head = struct.pack(
        order + "IIIII", if_id, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wire_len or len(data)
    )
    return block(order, 6, head + data)


def spb(order: str, data: bytes) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data)) + data)


def write(tmp_path: Path, content: bytes, name: str = "c.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("order", ["<", ">"], ids=["little_endian", "big_endian"])
def test_pcap_microsecond_reads_both_byte_orders(tmp_path: Path, order: str) -> None:
    records = [
        (1_700_000_000, 250_000, FRAMES[0], 1514),
        (1_700_000_001, 5, FRAMES[1], len(FRAMES[1])),
    ]
    packets = list(open_capture(write(tmp_path, pcap_bytes(records, order=order))))
    assert packets == [
        RawPacket(1_700_000_000.25, FRAMES[0], 1, None, 1514),
        RawPacket(1_700_000_001.000005, FRAMES[1], 1, 42, len(FRAMES[1])),
    ]


@pytest.mark.parametrize("order", ["<", ">"], ids=["little_endian", "big_endian"])
def test_pcap_nanosecond_timestamps(tmp_path: Path, order: str) -> None:
    records = [(1_700_000_000, 123_456_789, FRAMES[2], 28)]
    path = write(tmp_path, pcap_bytes(records, order=order, nano=True, linktype=101))
    (packet,) = open_capture(path)
    assert packet.at == pytest.approx(1_700_000_000.123456789, abs=1e-6)
    assert packet.linktype == 101
    assert packet.vlan is None


def test_pcap_written_by_scapy_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcap"
    writer = PcapWriter(str(path), linktype=1, nano=True)
    for i, frame in enumerate(FRAMES[:2]):
        pkt = Ether(frame)
        pkt.time = 1_600_000_000 + i
        writer.write(pkt)
    writer.close()
    assert [(p.at, p.data) for p in open_capture(path)] == [
        (1_600_000_000.0, FRAMES[0]),
        (1_600_000_001.0, FRAMES[1]),
    ]


@pytest.mark.parametrize("order", ["<", ">"], ids=["little_endian", "big_endian"])
def test_pcapng_two_interfaces_keep_their_linktype_and_resolution(
    tmp_path: Path, order: str
) -> None:
    content = (
        shb(order)
        + idb(order, 1)  # default resolution: microseconds
        + idb(order, 101, tsresol=9)  # nanoseconds
        + epb(order, 0, 1_700_000_000_500_000, FRAMES[0])
        + epb(order, 1, 1_700_000_000_123_456_789, FRAMES[2], wire_len=60)
        + spb(order, FRAMES[1])  # SPB: interface 0, no timestamp
    )
    packets = list(open_capture(write(tmp_path, content, "two.pcapng")))
    assert [(p.linktype, p.data, p.wire_len, p.vlan) for p in packets] == [
        (1, FRAMES[0], len(FRAMES[0]), None),
        (101, FRAMES[2], 60, None),
        (1, FRAMES[1], len(FRAMES[1]), 42),
    ]
    assert packets[0].at == pytest.approx(1_700_000_000.5)
    assert packets[1].at == pytest.approx(1_700_000_000.123456789, abs=1e-6)
    assert packets[2].at == packets[1].at  # SPB: the previous time, never backwards to 0


def test_pcapng_binary_tsresol_and_new_section_resets_interfaces(tmp_path: Path) -> None:
    content = (
        shb("<")
        + idb("<", 1, tsresol=0x80 | 10)  # 2^-10 s per tick
        + epb("<", 0, 1024 * 1000 + 512, FRAMES[0])
        + shb(">")  # a new section in the other byte order
        + idb(">", 101)
        + epb(">", 0, 2_000_000, FRAMES[2])
    )
    packets = list(open_capture(write(tmp_path, content, "sections.pcapng")))
    assert [(p.at, p.linktype) for p in packets] == [(1000.5, 1), (2.0, 101)]


def test_pcapng_written_by_scapy_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcapng"
    writer = PcapNgWriter(str(path))
    pkt = Ether(FRAMES[1])
    pkt.time = 1_650_000_000.25
    writer.write(pkt)
    writer.close()
    (packet,) = open_capture(path)
    assert (packet.at, packet.data, packet.vlan) == (1_650_000_000.25, FRAMES[1], 42)


def test_truncated_pcap_yields_good_packets_then_error_at_the_record(tmp_path: Path) -> None:
    records = [
        (1, 0, FRAMES[0], len(FRAMES[0])),
        (2, 0, FRAMES[1], len(FRAMES[1])),
        (3, 0, FRAMES[0], 60),
    ]
    content = pcap_bytes(records)
    third = 24 + 16 + len(FRAMES[0]) + 16 + len(FRAMES[1])
    path = write(tmp_path, content[: third + 16 + 10])  # the third record loses its data tail
    seen: list[RawPacket] = []
    with pytest.raises(CaptureFileError) as info:
        for packet in open_capture(path):
            seen.append(packet)
    assert [p.data for p in seen] == [FRAMES[0], FRAMES[1]]
    assert info.value.offset == third
    assert f"offset {third}" in str(info.value)


def test_pcap_cut_inside_a_record_header(tmp_path: Path) -> None:
    content = pcap_bytes([(1, 0, FRAMES[0], 60), (2, 0, FRAMES[0], 60)])
    second = 24 + 16 + len(FRAMES[0])
    path = write(tmp_path, content[: second + 7])
    with pytest.raises(CaptureFileError) as info:
        list(open_capture(path))
    assert info.value.offset == second


def test_pcap_record_with_impossible_length_is_corrupt(tmp_path: Path) -> None:
    good = pcap_bytes([(1, 0, FRAMES[0], 60)])
    bad = struct.pack("<IIII", 2, 0, 0x7FFFFFFF, 60)  # caplen 2 GiB: not a packet
    with pytest.raises(CaptureFileError) as info:
        list(open_capture(write(tmp_path, good + bad + FRAMES[0])))
    assert info.value.offset == len(good)


def test_truncated_pcapng_block_reports_its_start(tmp_path: Path) -> None:
    head = shb("<") + idb("<", 1) + epb("<", 0, 1, FRAMES[0])
    content = head + epb("<", 0, 2, FRAMES[1])
    path = write(tmp_path, content[: len(head) + 20], "cut.pcapng")
    seen = []
    with pytest.raises(CaptureFileError) as info:
        seen.extend(open_capture(path))
    assert [p.data for p in seen] == [FRAMES[0]]
    assert info.value.offset == len(head)


def test_pcapng_trailing_length_mismatch_is_corrupt(tmp_path: Path) -> None:
    head = shb("<") + idb("<", 1)
    broken = bytearray(epb("<", 0, 1, FRAMES[0]))
    broken[-4:] = struct.pack("<I", len(broken) + 4)
    with pytest.raises(CaptureFileError) as info:
        list(open_capture(write(tmp_path, head + bytes(broken), "bad.pcapng")))
    assert info.value.offset == len(head)


def test_pcapng_packet_on_undefined_interface_is_corrupt(tmp_path: Path) -> None:
    head = shb("<") + idb("<", 1)
    with pytest.raises(CaptureFileError) as info:
        list(open_capture(write(tmp_path, head + epb("<", 3, 1, FRAMES[0]), "if.pcapng")))
    assert info.value.offset == len(head)


@pytest.mark.parametrize(
    "content",
    [b"", b"\xd4\xc3", b"GIF89a not a capture", pcap_bytes([])[:20]],
    ids=["empty", "short_magic", "other_format", "truncated_file_header"],
)
def test_not_a_capture_fails_at_offset_zero(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(CaptureFileError) as info:
        list(open_capture(write(tmp_path, content)))
    assert info.value.offset == 0


def test_missing_file_is_a_capture_file_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureFileError):
        list(open_capture(tmp_path / "absent.pcap"))


def test_reader_reports_progress_in_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, pcap_bytes([(1, 0, FRAMES[0], 60)] * 5))
    reader = CaptureReader(path)
    assert sum(1 for _ in reader) == 5
    assert reader.bytes_read == reader.size_bytes == path.stat().st_size


# MANIFEST.md: "packets: N; link type: ether" of each file.
CORPUS_COUNTS = {
    "zeek/dhcp__dhcp.pcap": 9,
    "tcpdump/dhcp-option-108.pcapng": 2,
    "chrissanders-packets/synscan.pcapng": 2011,
    "nmap-scan-detection-lab/nmap_sS.pcapng": 2012,
    "nDPI/sonos.pcapng": 61,
    "ja4/tls-handshake.pcapng": 193,
    "suricata-verify/rfb-protocol-3.3__06-vnc-Password-3.3.pcap": 4763,
    "tj-oconnor-IoT-Dataset/schlage-lock-01.pcap": 11150,
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS_COUNTS))
def test_corpus_packet_counts_match_manifest(corpus: Path, name: str) -> None:
    packets = list(open_capture(corpus / name))
    assert len(packets) == CORPUS_COUNTS[name]
    assert {p.linktype for p in packets} == {1}


@pytest.mark.corpus
def test_corpus_vlan_tagged_copies_carry_their_vlan(corpus: Path) -> None:
    # MANIFEST.md: the tj-oconnor captures "also hold EAPOL frames and VLAN-tagged copies".
    packets = list(open_capture(corpus / "tj-oconnor-IoT-Dataset/schlage-lock-01.pcap"))
    tagged = [p for p in packets if p.data[12:14] == b"\x81\x00"]
    assert tagged
    assert all(p.vlan == int.from_bytes(p.data[14:16], "big") & 0x0FFF for p in tagged)
    assert all(p.vlan is None for p in packets if p.data[12:14] != b"\x81\x00")


def test_live_packet_takes_vlan_and_length_from_auxdata() -> None:
    source = LiveSource("lo", None, 1 << 20, 2048, False)
    # struct tpacket_auxdata: status (TP_STATUS_VLAN_VALID), len, snaplen, mac, net, tci, tpid
    aux = struct.pack("=IIIHHHH", 0x10, 1514, 60, 0, 14, (5 << 13) | 42, 0x8100)
    stamp = struct.pack("=qq", 1_700_000_000, 500_000_000)
    ancdata = [(263, 8, aux), (socket.SOL_SOCKET, 35, stamp)]
    packet = source._packet(FRAMES[0], ancdata, ("veth0", 3, 0, 1, b""))
    assert packet == RawPacket(1_700_000_000.5, FRAMES[0], 1, 42, 1514)


def test_live_packet_without_vlan_flag_has_no_vlan() -> None:
    source = LiveSource("lo", None, 1 << 20, 2048, False)
    aux = struct.pack("=IIIHHHH", 0, 60, 60, 0, 14, 0, 0)
    packet = source._packet(FRAMES[0], [(263, 8, aux)], ("veth0", 3, 0, 1, b""))
    assert packet.vlan is None
    assert packet.wire_len == 60


def test_sniffer_module_never_transmits() -> None:
    # DESIGN.md: the sensor emits zero packets on the monitored interface. The capture socket
    # has no send path at all: no send/sendto/sendmsg/sendall/sendfile call in the module.
    import ast

    import capture.sniffer

    tree = ast.parse(Path(capture.sniffer.__file__).read_text())
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"send", "sendto", "sendmsg", "sendall", "sendfile"}
    assert "recvmsg" in calls  # the walk does see the socket calls
