"""sccp extractor on nDPI/skinny.pcap and built Skinny messages (Cisco SCCP framing)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, sccp
from capture.observation import Role
from tests.capture.extractors.tcpframes import CLIENT_MAC, run, tcp_frame, tcp_payload_frames


def _message(message_id: int, body: bytes = b"", version: int = 0) -> bytes:
    # data length counts the message id and the data; then header version, message id
    return struct.pack("<III", 4 + len(body), version, message_id) + body


def _register(device_name: bytes, device_type: int) -> bytes:
    # RegisterMessage: DeviceName[16], userId, instance, stationIpAddr, deviceType, maxStreams
    body = device_name.ljust(16, b"\x00") + struct.pack("<IIII", 0, 1, 0x0A00000C, device_type)
    return _message(0x0001, body + struct.pack("<I", 5))


def test_skinny_capture_names_the_station_messages_of_both_phones(corpus: Path) -> None:
    obs = run(sccp, tcp_payload_frames(corpus / "nDPI/skinny.pcap"))
    # MANIFEST/labels: two stations (192.168.195.50 and .58) talking to 192.168.193.12:2000;
    # tshark decodes their messages as OffHook (0x0006), SoftKeyEvent (0x0026),
    # OpenReceiveChannelAck (0x0022) and StartMediaTransmissionAck (0x0154).
    assert {o.ip for o in obs} == {"192.168.195.50", "192.168.195.58"}
    assert all(o.role is Role.CLIENT for o in obs)
    names = {n for o in obs for n in o.fact("messages") or ()}
    assert {
        "OffHook",
        "SoftKeyEvent",
        "OpenReceiveChannelAck",
        "StartMediaTransmissionAck",
    } <= names


def test_register_message_gives_device_name_and_type() -> None:
    frame = tcp_frame(_register(b"SEP001E7A267475", 7), dport=2000)
    (obs,) = sccp.extract(frame, ExtractContext())
    assert obs.mac == CLIENT_MAC and obs.fact("messages") == ("Register",)
    assert obs.fact("device_name") == "SEP001E7A267475" and obs.fact("device_type") == 7


def test_call_manager_side_and_repeats_emit_nothing_new() -> None:
    ctx = ExtractContext()
    offhook = _message(0x0006, version=0x14)
    first = sccp.extract(tcp_frame(offhook, dport=2000), ctx)
    again = sccp.extract(tcp_frame(offhook + _message(0x0000), dport=2000, seq=1012), ctx)
    repeat = sccp.extract(tcp_frame(offhook, dport=2000, seq=1028), ctx)
    keepalive_only = sccp.extract(tcp_frame(_message(0x0000), dport=2000, sport=50001), ctx)
    from_manager = sccp.extract(tcp_frame(_message(0x0081), dport=2000, from_server=True), ctx)
    assert [o.fact("messages") for o in first] == [("OffHook",)]
    assert [o.fact("messages") for o in again] == [("OffHook", "KeepAlive")]  # KeepAlive is new
    assert repeat == []  # nothing this connection has not reported already
    assert [o.fact("messages") for o in keepalive_only] == [("KeepAlive",)]
    assert from_manager == []


@pytest.mark.parametrize(
    "payload",
    [
        b"GET / HTTP/1.1\r\n",  # not Skinny framing: length field far too large
        struct.pack("<III", 4, 0x99, 6),  # header version outside the known framings
        struct.pack("<II", 4, 0),  # shorter than one header
    ],
)
def test_rejects_what_is_not_skinny(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        sccp.extract(tcp_frame(payload, dport=2000), ExtractContext())
