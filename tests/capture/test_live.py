"""Live capture through a real AF_PACKET socket with the kernel BPF filter attached, in two
network namespaces joined by a veth pair that each test creates and deletes.

The kernel runs the very filter that tests/capture/test_bpf.py interprets, on the same packets:
the two must agree. The kernel strips 802.1Q tags before the socket sees the frame, so tagged
frames check that the VLAN id comes back from PACKET_AUXDATA.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from capture.bpf import CAPTURE_FILTER
from capture.sniffer import LiveSource, RawPacket
from tests.capture.netns import VethPair, run_in_netns, send_frames, veth_pair
from tests.capture.test_bpf import MUST_NOT_PASS, MUST_PASS
from tests.conftest import REPO, require

pytestmark = pytest.mark.root

EXIT_NOPERM = 77


@pytest.fixture
def pair() -> Iterator[VethPair]:
    require(os.geteuid() == 0, "live capture tests need root (network namespaces)")
    require(shutil.which("ip") is not None, "iproute2 (ip) is not installed")
    with veth_pair() as created:
        yield created


def untagged(frame: bytes) -> bytes:
    """The frame as the socket sees it once the kernel has moved the 802.1Q tag to metadata."""
    if frame[12:14] == b"\x81\x00":
        return frame[:12] + frame[16:]
    return frame


def collect(source: LiveSource, wanted: set[bytes]) -> dict[bytes, RawPacket]:
    """Packets whose data is in `wanted`, until all have come or the source is stopped."""
    got: dict[bytes, RawPacket] = {}
    for packet in source:
        if packet.data in wanted:
            got[packet.data] = packet
            if len(got) == len(wanted):
                break
    return got


def open_source(pair: VethPair) -> LiveSource:
    source = LiveSource(pair.capture_if, CAPTURE_FILTER, 4 << 20, 2048, True, poll_interval_s=0.05)
    run_in_netns(pair.capture_ns, source.open)
    return source


def test_kernel_filter_admits_and_drops_what_the_table_says(pair: VethPair) -> None:
    source = open_source(pair)
    passing = [bytes(p) for p in MUST_PASS.values()]
    blocked = [bytes(p) for p in MUST_NOT_PASS.values()]
    wanted = {untagged(f) for f in passing}
    # Blocked frames go first: if the kernel let any through, it would be read before the end.
    send_frames(pair.sender_ns, pair.sender_if, blocked + passing)
    guard = threading.Timer(8.0, source.stop)  # a safety net, not a timing assertion
    guard.start()
    seen: list[RawPacket] = []
    try:
        for packet in source:
            seen.append(packet)
            if wanted <= {p.data for p in seen}:
                break
    finally:
        guard.cancel()
        source.close()
    data = {p.data for p in seen}
    assert wanted <= data
    assert not data & {untagged(f) for f in blocked}
    tagged = {untagged(bytes(MUST_PASS[n])) for n in MUST_PASS if "tagged" in n}
    assert tagged
    assert all(p.vlan is not None for p in seen if p.data in tagged)


def test_tagged_discovery_frame_keeps_its_vlan_from_auxdata(pair: VethPair) -> None:
    source = open_source(pair)
    dhcp = (
        Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff", type=0x8100)
        / bytes.fromhex("a0640800")  # 802.1Q: PCP 5, VLAN 100, then IPv4
    )
    body = (
        IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=b"\x02\0\0\0\0\x0a")
        / DHCP(options=[("message-type", "discover"), ("hostname", b"cam-1"), "end"])
    )
    frame = bytes(dhcp) + bytes(body)
    plain = bytes(
        Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff") / IP(dst="224.0.0.251")
        / UDP(sport=5353, dport=5353) / (b"\0" * 12)
    )  # fmt: skip
    send_frames(pair.sender_ns, pair.sender_if, [frame, plain])
    guard = threading.Timer(8.0, source.stop)
    guard.start()
    try:
        got = collect(source, {untagged(frame), plain})
    finally:
        guard.cancel()
        source.close()
    assert got[untagged(frame)].vlan == 100
    assert got[untagged(frame)].wire_len == len(frame) - 4  # tag moved to metadata
    assert got[plain].vlan is None
    assert got[plain].at > 1_600_000_000  # a kernel timestamp (SO_TIMESTAMPNS), epoch seconds
    stats = source.stats()
    assert stats.kernel_drops == 0
    assert stats.kernel_packets >= 2
    # net/core/sock.c: SO_RCVBUF stores twice min(request, net.core.rmem_max).
    assert stats.rcvbuf_bytes == 2 * min(4 << 20, _rmem_max())


def _rmem_max() -> int:
    return int(Path("/proc/sys/net/core/rmem_max").read_text())


def test_stop_from_another_thread_ends_iteration(pair: VethPair) -> None:
    source = open_source(pair)
    done = threading.Event()

    def drain() -> None:
        for _ in source:
            pass
        done.set()

    reader = threading.Thread(target=drain, name="drain")
    reader.start()
    source.stop()
    source.stop()  # idempotent
    reader.join(timeout=5)
    assert done.is_set()
    assert not reader.is_alive()


SNIPPET = """
import sys, threading
from capture.bpf import CAPTURE_FILTER
from capture.errors import CapturePermissionError
from capture.sniffer import LiveSource
interface, marker = sys.argv[1], bytes.fromhex(sys.argv[2])
source = LiveSource(interface, CAPTURE_FILTER, 8 << 20, 2048, True, poll_interval_s=0.05)
try:
    source.open()
except CapturePermissionError as exc:
    print("refused:", exc, flush=True)
    sys.exit(77)
print("ready", source.rcvbuf_bytes, flush=True)
guard = threading.Timer(8.0, source.stop)
guard.daemon = True
guard.start()
for packet in source:
    if marker in packet.data:
        print("captured", len(packet.data), flush=True)
        break
source.close()
guard.cancel()
"""


def _setpriv(pair: VethPair, caps: list[str], marker: bytes) -> subprocess.Popen[str]:
    require(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    return subprocess.Popen(
        ["ip", "netns", "exec", pair.capture_ns, "setpriv", "--reuid=nobody", "--regid=nogroup",
         "--clear-groups", *caps, sys.executable, "-c", SNIPPET, pair.capture_if, marker.hex()],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": "/tmp", "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def test_unprivileged_user_with_only_cap_net_raw_captures(pair: VethPair) -> None:
    marker = secrets.token_bytes(8)
    frame = bytes(
        Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff") / IP(src="10.9.0.1", dst="10.9.0.255")
        / UDP(sport=137, dport=137) / marker
    )  # fmt: skip
    proc = _setpriv(pair, ["--inh-caps=+net_raw", "--ambient-caps=+net_raw"], marker)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("ready"), ready + proc.stderr.read() if proc.stderr else ""
        send_frames(pair.sender_ns, pair.sender_if, [frame])
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == f"captured {len(frame)}"


def test_without_cap_net_raw_the_refusal_names_it(pair: VethPair) -> None:
    proc = _setpriv(pair, ["--inh-caps=-all"], b"\0")
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == EXIT_NOPERM, err
    assert "CAP_NET_RAW" in out


def test_a_silent_interface_reports_idle_polls(pair: VethPair) -> None:
    """Nothing sent (an unplugged or quiet mirror port): the iterator calls on_idle at every
    empty poll, the heartbeat the daemon's watchdog gate needs. (The peer may still send its
    own IPv6 link-up packets, so what was yielded is not asserted.)"""
    idle = threading.Event()
    polls: list[float] = []

    def on_idle() -> None:
        polls.append(time.monotonic())
        if len(polls) >= 5:
            idle.set()

    source = LiveSource(
        pair.capture_if, CAPTURE_FILTER, 4 << 20, 2048, True, poll_interval_s=0.05, on_idle=on_idle
    )
    run_in_netns(pair.capture_ns, source.open)
    got: list[RawPacket] = []
    reader = threading.Thread(target=lambda: got.extend(source), name="silent")
    reader.start()
    assert idle.wait(10)
    source.stop()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert len(polls) >= 5


# Corpus captures whose traffic the live filter used to miss or only partly admits (Kasa,
# Edimax, Skinny, TiVo beacons, a TLS server flight in several segments, a UPnP description).
LIVE_CORPUS = (
    "nDPI/tplink_shp.pcap",
    "IoT_Sentinel/EdimaxPlug1101W__Setup-C-3-STA.pcap",
    "nDPI/skinny.pcap",
    "nDPI/TivoDVR.pcap",
    "nDPI/sonos.pcapng",
    "ja4/http1.pcapng",
)
ETHERNET_MAX = 1514  # what a veth with the default 1,500-byte MTU carries


@pytest.mark.corpus
@pytest.mark.parametrize("name", LIVE_CORPUS)
def test_kernel_admits_exactly_what_the_interpreter_admits_on_real_traffic(
    pair: VethPair, corpus: Path, name: str
) -> None:
    """`inspect --live-filter` and `eval --live-filter` stand for a live sensor only if the
    interpreter that runs the filter over files agrees with the kernel, frame for frame."""
    from collections import Counter

    from capture.bpf import compile_bpf, run_program
    from capture.sniffer import open_capture

    frames = [
        p.data
        for p in open_capture(corpus / name)
        if p.linktype == 1 and 14 <= len(p.data) <= ETHERNET_MAX
    ]
    program = compile_bpf(CAPTURE_FILTER)
    expected = Counter(untagged(f) for f in frames if run_program(program, f))
    rejected = {untagged(f) for f in frames if not run_program(program, f)}
    assert expected
    marker = bytes(
        Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff") / IP(src="10.9.0.1", dst="10.9.0.255")
        / UDP(sport=137, dport=137) / secrets.token_bytes(8)
    )  # fmt: skip
    source = open_source(pair)
    send_frames(pair.sender_ns, pair.sender_if, [*frames, marker])
    guard = threading.Timer(15.0, source.stop)  # a safety net, not a timing assertion
    guard.start()
    got: Counter[bytes] = Counter()
    try:
        for packet in source:
            if packet.data == marker:
                break
            got[packet.data] += 1
    finally:
        guard.cancel()
        source.close()
    sent = set(expected) | rejected
    got = Counter({data: n for data, n in got.items() if data in sent})  # not the peer's own
    assert got == expected
