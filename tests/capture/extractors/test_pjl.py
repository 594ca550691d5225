"""pjl extractor on chrissanders-packets/inconsistent_printer.pcapng and built PJL replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, pjl
from capture.observation import Role
from tests.capture.extractors.tcpframes import SERVER_MAC, run, tcp_frame, tcp_payload_frames

CTX = ExtractContext()


def test_printer_answering_dminfo_on_the_raw_port(corpus: Path) -> None:
    obs = run(pjl, tcp_payload_frames(corpus / "chrissanders-packets/inconsistent_printer.pcapng"))
    # labels.json: 172.16.0.253 receives a TCP/9100 PJL job and answers "@PJL DMINFO ..."
    assert [(o.ip, o.role, o.fact("reply")) for o in obs] == [
        ("172.16.0.253", Role.SERVER, "DMINFO")
    ]


def test_info_id_reply_gives_the_model_after_a_uel() -> None:
    # PJL Technical Reference Manual, INFO ID example layout
    reply = b'\x1b%-12345X@PJL INFO ID\r\n"HP LaserJet 4250"\r\n\x0c'
    (obs,) = pjl.extract(tcp_frame(reply, dport=9100, from_server=True), CTX)
    assert obs.mac == SERVER_MAC and obs.fact("reply") == "INFO"
    assert obs.fact("category") == "ID" and obs.fact("device_id") == "HP LaserJet 4250"


def test_the_print_job_and_non_pjl_output_are_not_read() -> None:
    job = b'\x1b%-12345X@PJL JOB NAME="x"\r\n@PJL ENTER LANGUAGE=PCLXL\r\n'
    assert pjl.extract(tcp_frame(job, dport=9100), CTX) == []
    assert pjl.extract(tcp_frame(b"%%[ status: idle ]%%", dport=9100, from_server=True), CTX) == []


def test_rejects_a_pjl_line_without_a_command() -> None:
    with pytest.raises(DecodeError):
        pjl.extract(tcp_frame(b"@PJL\r\n", dport=9100, from_server=True), CTX)
