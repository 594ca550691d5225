"""ubnt extractor: Ubiquiti discovery replies laid out as the protocol is documented.

The layout was checked against Wireshark's UBDP dissector (tshark 4.0.17, `-d
udp.port==10001,ubdp`) on the REPLY below: it shows the same TLV types and values."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, ubnt
from capture.observation import Role
from tests.capture.extractors.tcpframes import udp_frame

CTX = ExtractContext()
MAC = bytes.fromhex("f09fc2112233")


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def _message(body: bytes, version: int = 1, command: int = 0) -> bytes:
    return struct.pack("!BBH", version, command, len(body)) + body


REPLY = _message(
    _tlv(1, MAC)
    + _tlv(2, MAC + bytes([192, 0, 2, 30]))
    + _tlv(3, b"BZ.qca956x.v6.5.28.14491.230412.1626")
    + _tlv(10, struct.pack("!I", 3600))
    + _tlv(11, b"ap-lobby")
    + _tlv(12, b"U7PG2")
    + _tlv(13, b"Branch")
    + _tlv(21, b"UAP-AC-Pro-Gen2")
    + _tlv(22, b"6.5.28.14491")
)


def test_ubnt_reply_gives_product_model_firmware_and_name() -> None:
    [obs] = ubnt.extract(udp_frame(REPLY, sport=10001, dport=40000), CTX)
    assert obs.role is Role.SERVER
    assert dict(obs.facts) == {
        "mac_in_reply": "f0:9f:c2:11:22:33",
        "firmware_full": "BZ.qca956x.v6.5.28.14491.230412.1626",
        "hostname": "ap-lobby",
        "product": "U7PG2",
        "essid": "Branch",
        "model": "UAP-AC-Pro-Gen2",
        "firmware": "6.5.28.14491",
    }


def test_ubnt_version_2_announcement_is_read_the_same_way() -> None:
    body = _tlv(2, MAC + bytes(4)) + _tlv(12, b"AirCam")
    [obs] = ubnt.extract(udp_frame(_message(body, 2, 6), sport=10001, dport=10001), CTX)
    assert obs.facts["product"] == "AirCam"


def test_ubnt_inquiry_is_a_client_query() -> None:
    [obs] = ubnt.extract(udp_frame(b"\x01\x00\x00\x00", sport=40000, dport=10001), CTX)
    assert obs.role is Role.CLIENT and dict(obs.facts) == {"query": True}


@pytest.mark.parametrize(
    ("payload", "sport"),
    [(b"", 10001), (b"\x07abc", 10001), (b"GET / HTTP/1.1\r\n", 10001), (REPLY, 40000)],
)
def test_ubnt_ignores_other_traffic(payload: bytes, sport: int) -> None:
    assert ubnt.extract(udp_frame(payload, sport=sport, dport=10001), CTX) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (REPLY[:-5], "ubnt_length"),  # the header promises more than came
        (_message(_tlv(11, b"name")[:-2] + b"\x0b"), "ubnt_tlv_truncated"),
        (_message(b"\x0b\x00\x09abc"), "ubnt_tlv_truncated"),
    ],
)
def test_ubnt_malformed_replies_raise_decode_error(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        ubnt.extract(udp_frame(payload, sport=10001, dport=40000), CTX)
    assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300))
def test_ubnt_raises_only_decode_error_on_arbitrary_payloads(body: bytes) -> None:
    for payload in (_message(body), b"\x01\x00" + body, body):
        with contextlib.suppress(DecodeError):
            ubnt.extract(udp_frame(payload, sport=10001, dport=40000), CTX)
