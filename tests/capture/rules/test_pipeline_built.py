"""Built sessions end to end: raw frames → Pipeline (triage, real extractors, inventory) → rules.

The corpus has no RFB server offering None and no Telnet server without a login
(MANIFEST.md "Known gaps"), so those handshakes are built here byte by byte: RFB per RFC 6143
§7.1 (ProtocolVersion, security types, SecurityResult), Telnet per RFC 854 (IAC negotiation,
then server text).
"""

from __future__ import annotations

import importlib
import importlib.util
import struct
from types import ModuleType

import pytest

from capture.findings import Finding, Status
from capture.pipeline import Pipeline
from firmware.config import load_config
from tests.capture.rules.packets import SCANNER_MAC, TARGET_MAC, ethernet, ipv4, tcp_segment
from tests.conftest import require

SERVER, CLIENT = "192.168.1.20", "192.168.1.10"
IAC, WILL, DO = 255, 251, 253
ECHO, SGA = 1, 3


def _extractor(name: str) -> ModuleType:
    require(
        importlib.util.find_spec(f"capture.extractors.{name}") is not None,
        f"extractor {name} not written yet",
    )
    return importlib.import_module(f"capture.extractors.{name}")


class Session:
    """One TCP session between CLIENT and SERVER:port, fed to a pipeline segment by segment."""

    def __init__(self, pipeline: Pipeline, port: int, client_port: int = 50000) -> None:
        self.pipeline, self.port, self.client_port = pipeline, port, client_port
        self.seq = {True: 5000, False: 9000}
        self.at = 1000.0

    def send(self, from_server: bool, payload: bytes) -> None:
        self.at += 0.1
        mine, theirs = self.seq[from_server], self.seq[not from_server]
        if from_server:
            segment = tcp_segment(self.port, self.client_port, "PA", mine, theirs, payload)
            data = ethernet(TARGET_MAC, SCANNER_MAC, 0x0800, ipv4(SERVER, CLIENT, 6, segment))
        else:
            segment = tcp_segment(self.client_port, self.port, "PA", mine, theirs, payload)
            data = ethernet(SCANNER_MAC, TARGET_MAC, 0x0800, ipv4(CLIENT, SERVER, 6, segment))
        self.seq[from_server] += len(payload)
        self.pipeline.process(data, self.at, 1)


def _pipeline(*names: str) -> Pipeline:
    from capture.extractors.registry import EXTRACTORS

    extra = tuple(m for m in (_extractor(n) for n in names) if m not in EXTRACTORS)
    return Pipeline(load_config(), strict=True, extractors=EXTRACTORS + extra)


def _findings(pipeline: Pipeline) -> dict[str, Finding]:
    assert pipeline.rules is not None
    return {f.rule_id: f for f in pipeline.rules.findings()}


def test_rfb_38_server_offering_none_raises_vnc_no_auth() -> None:
    pipeline = _pipeline("rfb")
    session = Session(pipeline, 5900)
    session.send(True, b"RFB 003.008\n")
    session.send(False, b"RFB 003.008\n")
    session.send(True, b"\x01\x01")  # one security type: 1 (None)
    session.send(False, b"\x01")  # the client chooses None
    session.send(True, struct.pack("!I", 0))  # SecurityResult OK
    rec = _findings(pipeline)["vnc-no-auth"]
    assert rec.status is Status.UNHEALTHY
    assert rec.devices == (TARGET_MAC,)
    assert rec.evidence["first_flow"] == f"tcp {SERVER}:5900 -> {CLIENT}:50000"


def test_rfb_33_server_selecting_none_raises_vnc_no_auth() -> None:
    pipeline = _pipeline("rfb")
    session = Session(pipeline, 5901)
    session.send(True, b"RFB 003.003\n")
    session.send(False, b"RFB 003.003\n")
    session.send(True, struct.pack("!I", 1))  # RFB 3.3: the server decides, 1 = None
    assert _findings(pipeline)["vnc-no-auth"].status is Status.UNHEALTHY


def test_rfb_server_with_vnc_authentication_raises_nothing() -> None:
    pipeline = _pipeline("rfb")
    session = Session(pipeline, 5900)
    session.send(True, b"RFB 003.008\n")
    session.send(False, b"RFB 003.008\n")
    session.send(True, b"\x01\x02")  # one security type: 2 (VNC Authentication)
    session.send(False, b"\x02")
    session.send(True, bytes(16))  # the challenge
    assert "vnc-no-auth" not in _findings(pipeline)


@pytest.mark.parametrize("port", [23, 2323])
def test_telnet_shell_without_login_raises_both_telnet_recommendations(port: int) -> None:
    pipeline = _pipeline("telnet")
    session = Session(pipeline, port)
    session.send(True, bytes((IAC, WILL, ECHO, IAC, WILL, SGA)))
    session.send(True, b"\r\n\r\nBusyBox v1.19.4 (2013-06-24) built-in shell (ash)\r\n# ")
    found = _findings(pipeline)
    assert found["telnet-enabled"].evidence["first_src_port"] == port
    assert found["telnet-no-auth"].status is Status.UNHEALTHY


def test_telnet_with_a_login_prompt_raises_only_telnet_enabled() -> None:
    pipeline = _pipeline("telnet")
    session = Session(pipeline, 23)
    session.send(True, bytes((IAC, DO, 24, IAC, WILL, ECHO)))
    session.send(True, b"\r\nOpenBSD/i386 (oof) (ttyp2)\r\n\r\nlogin: ")
    found = _findings(pipeline)
    assert found["telnet-enabled"].status is Status.UNHEALTHY
    assert "telnet-no-auth" not in found


def test_telnet_failed_logins_from_many_sessions_raise_password_guessing() -> None:
    pipeline = _pipeline("telnet")
    for i in range(10):
        session = Session(pipeline, 23, client_port=51000 + i)
        session.at += i * 10
        session.send(True, bytes((IAC, WILL, ECHO)) + b"\r\nlogin: ")
        session.send(True, b"\r\nPassword: ")
        session.send(True, b"\r\nLogin incorrect\r\nlogin: ")
    alert = _findings(pipeline)["password-guessing"]
    assert alert.attack_technique == "T1110"
    assert alert.count == 10
