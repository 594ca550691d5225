"""Telnet extractor: real sessions, Recog's real banners, built no-auth shells, IAC edge cases."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, telnet
from capture.observation import Observation, Role
from tests.capture.extractors.tcpframes import (
    SERVER_IP,
    SERVER_MAC,
    conversation,
    read_frames,
    run,
    tcp_frame,
)

IAC_WILL_ECHO_SGA = bytes.fromhex("fffb01fffb03")


def _session(corpus: Path, name: str) -> list[Observation]:
    frames = [
        f
        for f in read_frames(corpus / name)
        if f.is_tcp and (f.src_port in telnet.TCP_PORTS or f.dst_port in telnet.TCP_PORTS)
    ]
    return run(telnet, frames)


def _words(text: object) -> str:
    return " ".join(str(text).split())


@pytest.mark.corpus
def test_telnet_openbsd_session_has_login_and_password_prompts(corpus: Path) -> None:
    observations = _session(corpus, "markofu-pcaps/telnet.pcap")
    last = observations[-1].facts
    # MANIFEST.md: login prompt yes, password prompt yes; text starts
    # "OpenBSD/i386 (oof) (ttyp2) login: Password: Last login: ..." (our text stops at the
    # password prompt).
    assert (last["login_prompt"], last["password_prompt"]) == (True, True)
    assert last["shell_prompt"] is False  # the "$ " came after the password
    manifest = "OpenBSD/i386 (oof) (ttyp2) login: Password: Last login: Sat Nov 27 20:11:43"
    assert _words(last["text"]) == "OpenBSD/i386 (oof) (ttyp2) login: Password:"
    assert manifest.startswith(_words(last["text"]))
    # The capture's client typed "fake" and "user", and ran ping: none of it is kept.
    assert all(w not in str(last["text"]) for w in ("fake", "user", "ping"))
    assert {o.ip for o in observations} == {"192.168.0.1"}
    assert all(o.role is Role.SERVER for o in observations)
    assert len(observations) <= 6  # on state changes, not one per segment (the file has 40+)
    # After the login, the motd's first line is the kernel version (MANIFEST.md: "OpenBSD
    # 2.6-beta (OOF) #4"): only the OS name and release are kept.
    assert last["os_banner"] == "OpenBSD 2.6-beta"


@pytest.mark.corpus
def test_telnet_cisco_vty_without_password_reports_password_notice(corpus: Path) -> None:
    last = _session(corpus, "arkime/mpls-basic.pcap")[-1].facts
    # MANIFEST.md: login prompt no, password prompt yes; text "Password required, but none set".
    assert last["text"] == "Password required, but none set"
    assert (last["login_prompt"], last["password_prompt"], last["shell_prompt"]) == (
        False,
        True,
        False,
    )
    assert set(last["options"]) == {1, 3, 24, 31}  # WILL ECHO, WILL SGA, DO TTYPE, DO NAWS


# Recog telnet_banners.json examples that show no login or password prompt, read by hand.
NO_PROMPT = {
    "bare 'Connection refused' -- assert nothing.",
    "TP-LINK TD Family DSL Modem/Router",
    "Polycom Video Conferencing - VSX Family",
    "Polycom Diagnotic Service",
    "HP switch blocking connection using network ACL",
    "Cisco router - Cisco Configuration Pro  variant",
    "Cisco Catalyst 1900",
    "OEM'd Broadcom Router - telnet disabled on WAN side",
    "OEM'd Broadcom Router - input validation code",
    "OEM'd Broadcom Router - Max incorrect tries - variant 1",
    "OEM'd Broadcom Router - Max incorrect tries - variant 2",
    "Moxa NPort Terminal Server - 6xxx Series",
    "probably IBM AS/400 running TN3270 or 5250 emulation server",
    "Raptor Firewall",
    "an embedded print server",
    "a DrayTek Vigor SOHO Router",
    "OpenBSD",
    "a Riverstone router",
    "Brother Printer",
    "Liebert UPS",
    "Alpha Technologies Novus UPS",
    "Psion Teklogix",
    "APC UPS Network Card",
    "Bosch Dome IP Cameras",
    "Redline Communication Radios",
    "Vadio VNG DocCom",
    "Phoenix Contact Wireless Module",
    "Control Solutions i.CanDoIt PLC",
    "MRV Communications LX Series",
    "Lantronix device server - w/o Serial",
    "Lantronix device server - w/ Serial",
    "Fermentrack Beer Brewing Monitor",
}
# Examples left out: a timed-out prompt ("% Username:  timeout expired!"), a line holding the
# typed password ("LOGON PASSWORD>3.27******"), and one whose text ends in a stray quote
# left by the XML conversion.
SKIPPED = {"Some kind of Cisco device", "a Conexant ADSL router"}
SKIPPED_TEXT_SUFFIX = 'Password:"'


def _recog_examples(corpus: Path) -> list[tuple[str, str]]:
    doc = json.loads((corpus / "recog/telnet_banners.json").read_text())
    out = []
    for fp in doc["fingerprints"]:
        for example in fp["examples"]:
            # Some examples write line breaks as the two characters backslash-n.
            text = example["text"].replace("\\r", "\r").replace("\\n", "\n")
            out.append((fp["description"], text))
    return out


def _banner_facts(text: str) -> dict[str, object]:
    frame = tcp_frame(text.encode("utf-8"), dport=23, from_server=True)
    [obs] = telnet.extract(frame, ExtractContext())
    return dict(obs.facts)


@pytest.mark.corpus
def test_telnet_recog_banners_without_login_are_not_login_prompts(corpus: Path) -> None:
    examples = [(d, t) for d, t in _recog_examples(corpus) if d in NO_PROMPT]
    assert len(examples) >= 36
    for description, text in examples:
        facts = _banner_facts(text)
        assert not facts["login_prompt"] and not facts["password_prompt"], description
        # Only the JetDirect menu ends in a command prompt (">").
        assert facts["shell_prompt"] is (text.rstrip().endswith("\n>")), description


@pytest.mark.corpus
def test_telnet_recog_login_banners_are_prompts_and_never_shells(corpus: Path) -> None:
    examples = [
        (d, t)
        for d, t in _recog_examples(corpus)
        if d not in NO_PROMPT | SKIPPED
        and not t.endswith(SKIPPED_TEXT_SUFFIX)
        and not t.rstrip().endswith("\n>")
    ]
    assert len(examples) > 100
    for description, text in examples:
        facts = _banner_facts(text)
        assert facts["login_prompt"] or facts["password_prompt"], description
        assert not facts["shell_prompt"], description


def test_telnet_busybox_root_shell_without_login_is_a_shell_prompt() -> None:
    banner = (
        b"\r\n\r\nBusyBox v1.19.4 (2014-03-12 10:50:36 CST) built-in shell (ash)\r\n"
        b"Enter 'help' for a list of built-in commands.\r\n\r\n# "
    )
    frames = conversation(
        [
            (True, IAC_WILL_ECHO_SGA),
            (True, banner),
            (False, b"cat /etc/passwd\r\n"),
            (True, b"cat /etc/passwd\r\nroot:x:0:0:root:/root:/bin/sh\r\n# "),
        ],
        dport=23,
    )
    observations = run(telnet, frames)
    last = observations[-1]
    assert (last.mac, last.ip, last.role) == (SERVER_MAC, SERVER_IP, Role.SERVER)
    assert last.facts["shell_prompt"] is True
    assert (last.facts["login_prompt"], last.facts["password_prompt"]) == (False, False)
    assert last.facts["options"] == (1, 3)
    assert str(last.facts["text"]).endswith("built-in commands. #")
    assert "passwd" not in str(last.facts["text"])  # the echoed command is not kept
    assert len(observations) == 2  # negotiation, then the shell: the echo changes nothing


def test_telnet_router_user_exec_prompt_on_a_non_standard_port() -> None:
    frames = conversation([(True, IAC_WILL_ECHO_SGA + b"\r\n\r\nbranch-rtr1>")], dport=2601)
    assert telnet.wants(frames[0])
    [obs] = run(telnet, frames)
    assert obs.facts["shell_prompt"] is True
    assert obs.facts["port"] == 2601


def test_telnet_echoed_user_name_and_failed_login_are_handled() -> None:
    frames = conversation(
        [
            (True, IAC_WILL_ECHO_SGA + b"\r\nCamera login: "),
            (False, b"admin\r\n"),
            *[(True, bytes([c])) for c in b"admin"],  # the server echoes each character
            (True, b"\r\nPassword: "),
            (False, b"12345\r\n"),
            (True, b"\r\nLogin incorrect\r\nCamera login: "),
        ],
        dport=23,
    )
    last = run(telnet, frames)[-1].facts
    assert _words(last["text"]) == "Camera login: Password:"
    assert "admin" not in str(last["text"]) and "12345" not in str(last["text"])
    assert (last["login_prompt"], last["password_prompt"], last["auth_failed"]) == (
        True,
        True,
        True,
    )
    assert last["shell_prompt"] is False


def test_telnet_iac_split_across_segments_and_subnegotiation_are_stripped() -> None:
    frames = conversation(
        [
            (True, b"\xff"),
            (True, b"\xfb\x01\xff\xfa\x18\x01\xff"),  # SB TTYPE SEND, IAC of IAC SE split
            (True, b"\xf0Welcome\xff\xff\r\nlogin: "),  # IAC IAC is a literal 0xFF byte
        ],
        dport=23,
    )
    last = run(telnet, frames)[-1].facts
    assert last["options"] == (1,)
    assert str(last["text"]).startswith("Welcome")
    assert last["login_prompt"] is True


def test_telnet_client_segments_never_produce_observations() -> None:
    frame = tcp_frame(b"\xff\xfd\x01secret\r\n", dport=23)
    assert telnet.extract(frame, ExtractContext()) == []


def test_telnet_text_is_capped_and_emitted_on_close() -> None:
    banner = [(True, b"line of banner text %d\r\n" % i) for i in range(200)]
    frames = conversation(banner, dport=23)
    frames.append(tcp_frame(b"", dport=23, from_server=True, seq=9999, flags="FA"))
    observations = run(telnet, frames, ExtractContext(text_max_bytes=128))
    assert len(observations) <= 3
    assert len(str(observations[-1].facts["text"]).encode()) <= 128


def test_telnet_wants_negotiation_or_login_prompt_only() -> None:
    assert telnet.wants(tcp_frame(b"\xff\xfd\x18", dport=9999, from_server=True))
    assert telnet.wants(tcp_frame(b"\r\nDVR login: ", dport=9999, from_server=True))
    assert not telnet.wants(tcp_frame(b"220 ftp ready\r\n", dport=9999, from_server=True))
    assert not telnet.wants(tcp_frame(b"\xff\xd8\xff\xe0JFIF", dport=9999, from_server=True))


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("fffa18"),  # SB that never ends: everything after is subnegotiation
        bytes.fromhex("fffb"),  # WILL with its option byte missing
        bytes.fromhex("00ff00ff01fe"),  # NUL data and unknown two-byte commands
    ],
)
def test_telnet_truncated_or_odd_commands_are_absorbed_without_error(payload: bytes) -> None:
    # Every byte string is a valid Telnet stream prefix, so nothing here is a DecodeError.
    observations = run(telnet, conversation([(True, payload)], dport=23))
    assert all(not o.facts["login_prompt"] and not o.facts["shell_prompt"] for o in observations)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=120)), max_size=8))
def test_telnet_raises_only_decode_error_on_arbitrary_sessions(
    segments: list[tuple[bool, bytes]],
) -> None:
    ctx = ExtractContext(text_max_bytes=64)
    for frame in conversation(segments, dport=23):
        with contextlib.suppress(DecodeError):
            for obs in telnet.extract(frame, ctx):
                assert len(str(obs.facts["text"]).encode()) <= 64


@pytest.mark.parametrize(
    ("motd", "expected"),
    [
        # OpenBSD kern.version, as rc(8) writes it into /etc/motd (split across two segments)
        (
            (b"\r\nOpenB", b"SD 6.9 (GENERIC.MP) #473: Mon Apr 19 10:40:28 MDT 2021\r\n$ "),
            "OpenBSD 6.9",
        ),
        ((b"FreeBSD 12.1-RELEASE r354233 GENERIC\r\n", b"$ "), "FreeBSD 12.1-RELEASE"),
        # a Linux motd names no BSD kernel; prose mentioning OpenBSD is not a version line
        ((b"Welcome to Ubuntu 14.04.1 LTS\r\n", b"Ask about OpenBSD 7.0 today\r\n$ "), None),
    ],
)
def test_telnet_bsd_kernel_version_line_after_login_is_the_os_banner(
    motd: tuple[bytes, bytes], expected: str | None
) -> None:
    frames = conversation(
        [
            (True, IAC_WILL_ECHO_SGA + b"\r\nhost login: "),
            (False, b"op\r\n"),
            (True, b"\r\nPassword:"),
            (False, b"secret\r\n"),
            (True, b"\r\nLast login: Mon Apr 19 11:00:00 on ttyp0\r\n" + motd[0]),
            (True, motd[1]),
        ],
        dport=23,
    )
    last = run(telnet, frames)[-1].facts
    assert last.get("os_banner") == expected
    assert "secret" not in str(last["text"])
