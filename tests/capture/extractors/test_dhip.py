"""dhip extractor: Dahua DHIP discovery answers framed as devices frame them."""

from __future__ import annotations

import contextlib
import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, dhip
from capture.observation import Role
from tests.capture.extractors.tcpframes import udp_frame

CTX = ExtractContext()
# deviceInfo fields of a Dahua camera's answer as published (an internet-wide scan finding
# for UDP 37810), addresses replaced by documentation ones.
INFO = {
    "AlarmInputChannels": 0,
    "DeviceClass": "IPC",
    "DeviceType": "IPC-HDW5421S",
    "HttpPort": 80,
    "IPv4Address": {"DhcpEnable": False, "IPAddress": "192.0.2.140"},
    "MachineName": "1F006E4PAX00075",
    "Manufacturer": "Private",
    "Port": 37777,
    "SerialNo": "1F006E4PAX00075",
    "Vendor": "Dahua",
    "Version": "2.400.0.8",
}


def _dhip(message: dict[str, Any] | bytes) -> bytes:
    """A 32-byte DHIP header (0x20, 'DHIP', session 0, length at 16 and 24), then the body."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    header = bytearray(32)
    header[0] = 0x20
    header[4:8] = b"DHIP"
    struct.pack_into("<I", header, 16, len(body))
    struct.pack_into("<I", header, 24, len(body))
    return bytes(header) + body


ANSWER = _dhip(
    {"mac": "4c:11:bf:c2:0b:9d", "method": "client.notifyDevInfo", "params": {"deviceInfo": INFO}}
)


def test_dhip_answer_gives_class_model_serial_firmware_brand() -> None:
    [obs] = dhip.extract(udp_frame(ANSWER, sport=37810, dport=37810), CTX)
    assert obs.role is Role.SERVER
    assert dict(obs.facts) == {
        "device_class": "IPC",
        "model": "IPC-HDW5421S",
        "serial": "1F006E4PAX00075",
        "firmware": "2.400.0.8",
        "brand": "Dahua",
        "mac_in_reply": "4c:11:bf:c2:0b:9d",
    }


def test_dhip_search_is_a_client_query() -> None:
    search = _dhip(b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n')
    [obs] = dhip.extract(udp_frame(search, sport=50000, dport=37810), CTX)
    assert obs.role is Role.CLIENT and dict(obs.facts) == {"query": True}


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff", bytes(40), _dhip({"method": "configManager.getConfig", "params": {}})],
)
def test_dhip_ignores_other_traffic_on_the_port(payload: bytes) -> None:
    assert dhip.extract(udp_frame(payload, sport=37810, dport=37810), CTX) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (ANSWER[:20], "dhip_truncated"),
        (ANSWER[:-10], "dhip_length"),
        (_dhip(b"{not json"), "dhip_json"),
        (_dhip(b"[1, 2]"), "dhip_not_object"),
        (_dhip({"method": "client.notifyDevInfo", "params": {}}), "dhip_no_device_info"),
    ],
)
def test_dhip_malformed_answers_raise_decode_error(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        dhip.extract(udp_frame(payload, sport=37810, dport=37810), CTX)
    assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=400))
def test_dhip_raises_only_decode_error_on_arbitrary_payloads(body: bytes) -> None:
    for payload in (_dhip(body), ANSWER[:32] + body, body):
        with contextlib.suppress(DecodeError):
            dhip.extract(udp_frame(payload, sport=37810, dport=37810), CTX)
