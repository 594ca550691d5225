"""browser extractor ([MS-BRWS] announcements over UDP 138) on arkime/nbns.pcap."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, browser
from capture.observation import Observation, Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()


def _observations(path: Path) -> list[Observation]:
    return [
        obs
        for frame in read_frames(path)
        if frame.is_udp and 138 in (frame.src_port, frame.dst_port)
        for obs in browser.extract(frame, CTX)
    ]


def test_windows_95_host_announcement(corpus: Path) -> None:
    obs = _observations(corpus / "arkime/nbns.pcap")
    # labels.json / tshark: host MDJR98 announces type 0x00402003 (workstation, server,
    # Windows for Workgroups, Windows 95+) with OS version 4.0; the domain announcement
    # (opcode 0x0c, WORKGROUP) and other browser messages are not about the sender.
    assert {o.fact("name") for o in obs} == {"MDJR98"}
    assert all(o.role is Role.ANNOUNCER and o.fact("os_version") == "4.0" for o in obs)
    host = next(o for o in obs if o.fact("opcode") == "host_announcement")
    assert host.fact("server_types") == ("workstation", "server", "wfw", "windows")


def test_other_datagrams_are_ignored_and_cut_ones_rejected() -> None:
    names = b"\x20" + b"A" * 32 + b"\x00"
    header = bytes([0x11, 0x02, 0, 1, 192, 0, 2, 1, 0, 138, 0, 0, 0, 0])
    smb = b"\xffSMB" + bytes([0x25]) + bytes(27) + bytes([17]) + bytes(10)
    not_smb = header + names + names + b"hello"
    assert browser.extract(udp_frame(not_smb, 138, 138, src="192.0.2.1"), CTX) == []
    with pytest.raises(DecodeError):
        browser.extract(udp_frame(header + names + names + smb, 138, 138, src="192.0.2.1"), CTX)
