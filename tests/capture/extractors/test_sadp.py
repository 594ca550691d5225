"""sadp extractor: Hikvision SADP ProbeMatch replies as devices send them, and the inquiry."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, sadp
from capture.observation import Role
from tests.capture.extractors.tcpframes import udp_frame

CTX = ExtractContext()
# A camera's reply, element by element as published SADP clients show them (one per line).
REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>\r
<ProbeMatch><Uuid>F93CF8DC-DF53-424B-98A7-9FC0536E1083</Uuid>\r
<Types>inquiry</Types>\r
<DeviceType>142378</DeviceType>\r
<DeviceDescription>DS-2CD2320D-I</DeviceDescription>\r
<DeviceSN>DS-2CD2320D-I20180919AACHC52932642</DeviceSN>\r
<CommandPort>8000</CommandPort>\r
<HttpPort>80</HttpPort>\r
<MAC>44-47-cc-37-ce-81</MAC>\r
<IPv4Address>192.0.2.112</IPv4Address>\r
<IPv4SubnetMask>255.255.255.0</IPv4SubnetMask>\r
<DHCP>true</DHCP>\r
<SoftwareVersion>V5.4.5build 260429</SoftwareVersion>\r
<Activated>false</Activated>\r
</ProbeMatch>"""
INQUIRY = (
    b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>13A888A9-F1B1-4020-AE9F-05607682D23B'
    b"</Uuid><Types>inquiry</Types></Probe>"
)


def test_sadp_reply_gives_model_serial_version_and_state() -> None:
    [obs] = sadp.extract(udp_frame(REPLY, sport=37020, dport=37020), CTX)
    assert obs.role is Role.SERVER
    assert dict(obs.facts) == {
        "device_type": 142378,
        "model": "DS-2CD2320D-I",
        "serial": "DS-2CD2320D-I20180919AACHC52932642",
        "mac_in_reply": "44:47:cc:37:ce:81",
        "software_version": "V5.4.5build 260429",
        "activated": False,
    }


def test_sadp_reply_in_one_line_with_the_lower_case_root() -> None:
    one_line = REPLY.replace(b"\r\n", b"").replace(b"ProbeMatch", b"Probematch")
    [obs] = sadp.extract(udp_frame(one_line, sport=37020, dport=37020), CTX)
    assert obs.facts["model"] == "DS-2CD2320D-I"


def test_sadp_inquiry_is_a_client_query() -> None:
    [obs] = sadp.extract(udp_frame(INQUIRY, sport=52000, dport=37020), CTX)
    assert obs.role is Role.CLIENT and dict(obs.facts) == {"query": True}


@pytest.mark.parametrize("payload", [b"", b"M-SEARCH * HTTP/1.1\r\n\r\n", bytes(64)])
def test_sadp_ignores_other_traffic_on_the_port(payload: bytes) -> None:
    assert sadp.extract(udp_frame(payload, sport=37020, dport=37020), CTX) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<ProbeMatch><Uuid>x</Uuid><Types>inquiry</Types></ProbeMatch>", "sadp_no_identity"),
        (b"<ProbeMatch>" + b"x" * 9000, "sadp_length"),
    ],
)
def test_sadp_malformed_replies_raise_decode_error(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        sadp.extract(udp_frame(payload, sport=37020, dport=37020), CTX)
    assert err.value.reason == reason


def test_sadp_keeps_no_bad_mac_and_no_non_numeric_type() -> None:
    odd = REPLY.replace(b"44-47-cc-37-ce-81", b"not-a-mac").replace(b"142378", b"x1")
    [obs] = sadp.extract(udp_frame(odd, sport=37020, dport=37020), CTX)
    assert "mac_in_reply" not in obs.facts and "device_type" not in obs.facts


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=600))
def test_sadp_raises_only_decode_error_on_arbitrary_payloads(body: bytes) -> None:
    for payload in (b"<ProbeMatch>" + body, body):
        with contextlib.suppress(DecodeError):
            sadp.extract(udp_frame(payload, sport=37020, dport=37020), CTX)
