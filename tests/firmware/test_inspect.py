"""`branchwatch inspect`: exit codes, JSON Lines shape and order, partial reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

from capture import sniffer
from capture.errors import CaptureFileError
from firmware.cli import main

PRINTER = "00:11:22:33:44:55"
PHONE = "00:11:22:33:44:66"
PCAP_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16


def _packets() -> list[Any]:
    request = (
        Ether(src=PRINTER, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex("001122334455"), xid=1)
        / DHCP(options=[("message-type", "request"), ("hostname", b"lobby-printer"), "end"])
    )
    request.time = 1_700_000_000.0
    arp = Ether(src=PHONE, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=PHONE, psrc="192.168.1.40", pdst="192.168.1.1"
    )
    arp.time = 1_700_000_005.0
    return [request, arp]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "two.pcap"
    wrpcap(str(path), _packets())
    return path


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_devices_then_stats_last_in_first_seen_order(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "--json", str(capture)]) == 0
    records = _lines(capsys.readouterr().out)
    assert [r["record"] for r in records] == ["device", "device", "stats"]
    printer, phone, stats = records
    assert printer["mac"] == PRINTER and printer["names"] == ["lobby-printer"]
    assert phone["mac"] == PHONE and phone["ips"] == ["192.168.1.40"]
    for key in (
        "mac", "ips", "names", "vendor", "category", "type", "subtype", "model", "firmware",
        "os", "protocols", "services", "first_seen", "last_seen", "confidence", "evidence",
    ):  # fmt: skip
        assert key in printer, key
    assert printer["first_seen"] == 1_700_000_000.0
    assert stats["packets"] == 2
    for key in ("bytes", "dissected", "dropped", "weird"):
        assert key in stats


def test_json_output_is_the_same_on_every_run(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["inspect", "--json", str(capture)])
    first = capsys.readouterr().out
    main(["inspect", "--json", str(capture)])
    assert capsys.readouterr().out == first


def test_table_lists_devices(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(capture)]) == 0
    out = capsys.readouterr().out
    assert "2 devices" in out and PRINTER in out and "lobby-printer" in out


def test_truncated_capture_exits_65_with_offset_and_reports_what_was_read(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = capture.read_bytes()
    first_len = RECORD_HEADER_BYTES + len(bytes(_packets()[0]))
    second_at = PCAP_HEADER_BYTES + first_len
    capture.write_bytes(data[: second_at + RECORD_HEADER_BYTES + 10])  # cut in packet 2's data
    assert main(["inspect", "--json", str(capture)]) == 65
    out, err = capsys.readouterr()
    assert f"offset {second_at}" in err
    records = _lines(out)
    assert [r["record"] for r in records] == ["device", "stats"]
    assert records[0]["mac"] == PRINTER and records[-1]["packets"] == 1


def test_not_a_capture_exits_65(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a capture\n")
    assert main(["inspect", str(path)]) == 65
    assert "offset 0" in capsys.readouterr().err


def test_missing_file_exits_65(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--json", str(tmp_path / "absent.pcap")]) == 65
    out, err = capsys.readouterr()
    assert out == "" and "cannot open" in err


def test_no_permission_exits_77(
    capture: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads any file, so the refusal the reader translates is simulated at its seam.
    def refuse(self: sniffer.CaptureReader) -> Any:
        try:
            raise PermissionError(13, "Permission denied")
        except PermissionError as exc:
            raise CaptureFileError(f"cannot open {self.path}: {exc.strerror}", 0) from exc

    monkeypatch.setattr(sniffer.CaptureReader, "__iter__", refuse)
    assert main(["inspect", str(capture)]) == 77
    assert "Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["inspect"], ["inspect", "--bogus", "x.pcap"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_bad_config_exits_78(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[inventory]\ndevices_max = 0\n")
    assert main(["inspect", "--config", str(config), str(capture)]) == 78
    assert "inventory.devices_max" in capsys.readouterr().err


def test_progress_bar_reaches_the_end_of_the_file(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from firmware import inspect
    from firmware.config import load_config

    monkeypatch.setattr(inspect, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(inspect, "_PROGRESS_EVERY", 1)
    stream = io.StringIO()
    pipeline, failure = inspect.inspect_file(str(capture), load_config(), progress=stream)
    assert failure is None and pipeline.stats.packets == 2
    assert "100.0%" in stream.getvalue() and "2 packets" in stream.getvalue()


STREAMER = "00:11:22:33:44:77"


def test_live_filter_drops_what_the_kernel_filter_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A host that only streams UDP media (RTP-like, to port 7080): a file shows it, a live
    # sensor never sees it, because the capture filter keeps bulk UDP in the kernel.
    stream = []
    for n in range(5):
        frame = (
            Ether(src=STREAMER, dst=PHONE)
            / IP(src="192.168.1.50", dst="192.168.1.40")
            / UDP(sport=40000, dport=7080)
            / (b"\x80" + bytes(1000))
        )
        frame.time = 1_700_000_010.0 + n
        stream.append(frame)
    path = tmp_path / "stream.pcap"
    wrpcap(str(path), [*_packets(), *stream])

    assert main(["inspect", "--json", str(path)]) == 0
    offline = _lines(capsys.readouterr().out)
    assert STREAMER in {r.get("mac") for r in offline}
    assert "live_filter" not in offline[-1]

    assert main(["inspect", "--json", "--live-filter", str(path)]) == 0
    live = _lines(capsys.readouterr().out)
    assert {r["mac"] for r in live if r["record"] == "device"} == {PRINTER, PHONE}
    assert live[-1]["live_filter"] == {"passed": 2, "rejected": 5, "not_ethernet": 0}
    assert live[-1]["packets"] == 2  # rejected frames never reach the pipeline

    assert main(["inspect", "--live-filter", str(path)]) == 0
    assert "live filter: 2 frames passed, 5 rejected" in capsys.readouterr().out


def test_live_filter_without_libpcap_exits_69(
    capture: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from capture.errors import CaptureError
    from firmware import inspect

    def no_libpcap(expr: str) -> None:
        raise CaptureError("cannot compile the BPF filter: libpcap not found")

    monkeypatch.setattr(inspect, "compile_bpf", no_libpcap)
    assert main(["inspect", "--live-filter", str(capture)]) == 69
    assert "libpcap not found" in capsys.readouterr().err
    assert main(["inspect", str(capture)]) == 0  # without the option nothing is compiled
