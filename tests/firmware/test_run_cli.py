"""`branchwatch run` as systemd runs it: a real process, real signals, documented exit codes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap, wrpcap

from firmware import inventoryfile
from firmware.statefile import read_status
from tests.capture.netns import send_frames, veth_pair
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]


def slow_capture(path: Path) -> None:
    """SSDP announcements spread over 10 minutes: replayed at capture speed it keeps running."""
    packets = []
    for i in range(3):
        pkt = (
            Ether(src="00:17:88:24:76:ff", dst="01:00:5e:7f:ff:fa")
            / IP(src="10.0.0.5", dst="239.255.255.250")
            / UDP(sport=1900, dport=1900)
            / Raw(b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNTS: ssdp:alive\r\n\r\n")
        )
        pkt.time = 1_700_000_000 + i * 300
        packets.append(pkt)
    wrpcap(str(path), packets)


def write_config(path: Path, state: Path, snaplen: int = 2048) -> None:
    path.write_text(
        f'[sensor]\nstate_dir = "{state}"\n[capture]\nsnaplen = {snaplen}\n[leds]\nenabled = false\n'
    )


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """A daemon a failed assertion left running is killed; its output pipe is closed."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def wait_for(predicate: object, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)  # polling another process's file: there is no event to wait on
    return False


def test_sigterm_stops_within_10_s_and_sighup_with_bad_config_keeps_running(tmp_path: Path) -> None:
    pcap, config = tmp_path / "slow.pcap", tmp_path / "bw.toml"
    slow_capture(pcap)
    write_config(config, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware", "run", "--config", str(config), "--pcap", str(pcap), "--realtime"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert wait_for(lambda: read_status(tmp_path)[0] is not None)
        write_config(config, tmp_path, snaplen=1)  # now invalid
        proc.send_signal(signal.SIGHUP)
        # The reload is refused (logged at ERROR) and the daemon keeps writing its status.
        before = read_status(tmp_path)[0]
        assert wait_for(lambda: read_status(tmp_path)[0] != before, 10)
        assert proc.poll() is None  # still running on the old configuration
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 10.0  # the SIGTERM budget
        output = proc.stdout.read() if proc.stdout else b""
        assert b"new configuration rejected, keeping the old one" in output
    finally:
        _reap(proc)
    status, _ = read_status(tmp_path)
    assert status is not None and status["state"] == "stopped"


def test_bad_config_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "bw.toml"
    write_config(config, tmp_path, snaplen=1)
    out = subprocess.run(
        [sys.executable, "-m", "firmware", "run", "--config", str(config), "--pcap", "x.pcap"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 78 and "capture.snaplen" in out.stderr


def test_corrupt_capture_exits_65(tmp_path: Path) -> None:
    config, pcap = tmp_path / "bw.toml", tmp_path / "bad.pcap"
    write_config(config, tmp_path)
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 10)  # pcap magic, then a truncated header
    out = subprocess.run(
        [sys.executable, "-m", "firmware", "run", "--config", str(config), "--pcap", str(pcap), "--exit-when-done"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 65 and "offset" in out.stderr


def test_live_capture_without_cap_net_raw_exits_77(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "needs root to drop to an unprivileged user")
    require(shutil.which("setpriv") is not None, "setpriv not installed")
    # pytest's tmp_path is private to root: the unprivileged user gets a directory of its own.
    shared = Path(tempfile.mkdtemp(prefix="bw-nopriv-"))
    try:
        os.chmod(shared, 0o777)
        config = shared / "bw.toml"
        write_config(config, shared)
        text = config.read_text().replace("[capture]\n", '[capture]\ninterface = "lo"\n')
        config.write_text(text)
        os.chmod(config, 0o644)
        out = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
             sys.executable, "-m", "firmware", "run", "--config", str(config)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env={**os.environ, "HOME": str(shared), "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert out.returncode == 77, out.stderr
    assert "CAP_NET_RAW" in out.stderr


@pytest.mark.root
def test_a_live_sensor_keeps_its_devices_across_a_restart(tmp_path: Path) -> None:
    """`branchwatch run` on a veth in a namespace of its own: a printer's traffic, SIGTERM,
    a restart; the saved inventory brings the printer back as it was classified."""
    require(os.geteuid() == 0, "live capture tests need root (network namespaces)")
    require(shutil.which("ip") is not None, "iproute2 (ip) is not installed")
    persona = REPO / "tests" / "personas" / "captures" / "hp-m404.pcap"
    frames = [bytes(p) for p in rdpcap(str(persona))]
    state, config = tmp_path / "state", tmp_path / "bw.toml"
    with veth_pair() as pair:
        config.write_text(
            f'[sensor]\nstate_dir = "{state}"\n[capture]\ninterface = "{pair.capture_if}"\n'
            "[leds]\nenabled = false\n"
        )
        argv = ["ip", "netns", "exec", pair.capture_ns, sys.executable, "-m", "firmware", "run",
                "--config", str(config)]  # fmt: skip
        for run in (1, 2):
            proc = subprocess.Popen(
                argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                assert wait_for(
                    lambda: (read_status(state)[0] or {}).get("state") not in (None, "stopped")
                )
                status = read_status(state)[0] or {}
                if run == 1:
                    assert status["inventory_restored"] == 0
                    # The status file comes before the capture socket is open: send until seen.
                    for _ in range(10):
                        send_frames(pair.sender_ns, pair.sender_if, frames)
                        if wait_for(lambda: _devices(state) >= 1, 3.0):
                            break
                    assert _devices(state) >= 1, proc.stdout.read1() if proc.stdout else b""
                else:
                    assert status["inventory_restored"] == 1
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=15) == 0
            finally:
                _reap(proc)
            saved = inventoryfile.load(state / inventoryfile.FILENAME)
            assert saved is not None
            [printer] = [d for d in saved.state["devices"] if d["mac"] == "a0:8c:fd:3a:7b:3c"]
            assert printer["classification"]["model"][0] == "LaserJet Pro M404dn"  # its label


def _devices(state: Path) -> int:
    status = read_status(state)[0] or {}
    return int(status.get("counters", {}).get("devices", 0))
