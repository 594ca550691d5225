"""crestron extractor: the version line Crestron devices send on UDP 41794."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, crestron
from capture.observation import Role
from tests.capture.extractors.tcpframes import udp_frame

CTX = ExtractContext()
# Version lines as Crestron devices print them (VER console command; the same line rides
# in the autodiscovery answer after the host name). The framing bytes around it here are
# placeholders: the extractor does not interpret them.
CP3 = b"CP3 Cntrl Eng [v1.601.3934.19631 (Oct 10 2019), #00A3BBE7] @E-00107f4a3474"
CP4 = b"CP4 Cntrl Eng [v2.4474.00005 (Apr  9 2020), #8EB216B7] @E-00107feb538f"
DM = b"DM-MD8x8 Cntrl Eng [v4.102]"


def _answer(line: bytes, host: bytes = b"CP3-LOBBY") -> bytes:
    return b"\x15\x00\x00\x01\x00\x00\x00\x00\x00\x00" + host.ljust(256, b"\x00") + line + b"\x00"


def test_crestron_answer_gives_model_firmware_serial_and_mac() -> None:
    [obs] = crestron.extract(udp_frame(_answer(CP3), sport=41794, dport=41794), CTX)
    assert obs.role is Role.SERVER
    assert dict(obs.facts) == {
        "model": "CP3",
        "firmware": "1.601.3934.19631",
        "serial": "00A3BBE7",
        "mac_in_reply": "00:10:7f:4a:34:74",
    }


@pytest.mark.parametrize(
    ("line", "model", "firmware"),
    [(CP4, "CP4", "2.4474.00005"), (DM, "DM-MD8x8", "4.102")],
)
def test_crestron_version_line_variants(line: bytes, model: str, firmware: str) -> None:
    [obs] = crestron.extract(udp_frame(_answer(line), sport=41794, dport=41794), CTX)
    assert (obs.facts["model"], obs.facts["firmware"]) == (model, firmware)


def test_crestron_request_is_a_client_query() -> None:
    request = b"\x14\x00\x00\x00\x01\x04\x00\x03\x00\x00" + b"tool-pc".ljust(256, b"\x00")
    [obs] = crestron.extract(udp_frame(request, sport=50000, dport=41794), CTX)
    assert obs.role is Role.CLIENT and dict(obs.facts) == {"query": True}


def test_crestron_ignores_datagrams_from_the_port_without_a_version_line() -> None:
    assert crestron.extract(udp_frame(bytes(300), sport=41794, dport=41794), CTX) == []
    assert crestron.extract(udp_frame(b"", sport=50000, dport=41794), CTX) == []


def test_crestron_oversized_datagram_is_malformed() -> None:
    with pytest.raises(DecodeError) as err:
        crestron.extract(udp_frame(bytes(5000), sport=41794, dport=41794), CTX)
    assert err.value.reason == "crestron_length"


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=400))
def test_crestron_raises_only_decode_error_on_arbitrary_payloads(body: bytes) -> None:
    for payload in (body, b"X Cntrl Eng [v" + body, body + CP3[:40]):
        with contextlib.suppress(DecodeError):
            crestron.extract(udp_frame(payload, sport=41794, dport=41794), CTX)


def test_crestron_keeps_no_unbounded_version() -> None:
    # A forged line with thousands of version digits is not a version line: nothing is kept.
    forged = b"X Cntrl Eng [v" + b"1." * 1500 + b"1]"
    assert crestron.extract(udp_frame(forged, sport=41794, dport=41794), CTX) == []
