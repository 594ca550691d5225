"""rtsp extractor: RTSP answers of cameras and requests of recorders (RFC 2326 message syntax)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, http, rtsp
from capture.observation import Role
from tests.capture.extractors.tcpframes import tcp_frame

CTX = ExtractContext()
# Server banner as Dahua cameras send it (Rapid7 Recog rtsp_servers.xml example).
OK = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: Dahua Rtsp Server\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"
UNAUTHORIZED = (
    b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
    b'WWW-Authenticate: Digest realm="IP Camera", nonce="a1b2c3"\r\n\r\n'
)
DESCRIBE = (
    b"DESCRIBE rtsp://admin:secret@192.0.2.20:554/cam/realmonitor?channel=1 RTSP/1.0\r\n"
    b"CSeq: 2\r\nUser-Agent: LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)\r\n"
    b"Accept: application/sdp\r\n\r\n"
)


def test_rtsp_response_gives_the_server_banner() -> None:
    [obs] = rtsp.extract(tcp_frame(OK, dport=554, from_server=True), CTX)
    assert obs.role is Role.SERVER
    assert dict(obs.facts) == {
        "status": 200,
        "version": "1.0",
        "server": "Dahua Rtsp Server",
        "port": 554,
    }


def test_rtsp_401_gives_the_realm() -> None:
    [obs] = rtsp.extract(tcp_frame(UNAUTHORIZED, dport=8554, from_server=True), CTX)
    assert obs.facts["status"] == 401 and obs.facts["port"] == 8554
    assert obs.facts["auth_scheme"] == "Digest" and obs.facts["realm"] == "IP Camera"


def test_rtsp_request_keeps_method_and_agent_never_the_url() -> None:
    [obs] = rtsp.extract(tcp_frame(DESCRIBE, dport=554), CTX)
    assert obs.role is Role.CLIENT
    assert dict(obs.facts) == {
        "method": "DESCRIBE",
        "version": "1.0",
        "user_agent": "LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)",
    }
    assert not any("secret" in str(v) for v in obs.facts.values())


def test_rtsp_is_offered_any_port_by_its_first_bytes_and_http_leaves_it_alone() -> None:
    options = b"OPTIONS rtsp://192.0.2.20/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"
    frame = tcp_frame(options, dport=10554)
    assert rtsp.wants(frame) and rtsp.wants(tcp_frame(OK, dport=10554, from_server=True))
    assert http.extract(frame, CTX) == []  # an RTSP request is not an HTTP error
    assert not rtsp.wants(tcp_frame(b"GET / HTTP/1.1\r\n\r\n", dport=10554))
    assert not rtsp.wants(tcp_frame(b"OPTIONS * HTTP/1.1\r\n\r\n", dport=80))
    assert rtsp.wants(tcp_frame(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n", dport=10554))


@pytest.mark.parametrize(
    "payload",
    [b"$\x00\x05\xc0\x80\x60" + bytes(200), b"", b"v=0\r\no=- 0 0 IN IP4 192.0.2.20\r\n"],
)
def test_rtsp_skips_media_and_bodies(payload: bytes) -> None:
    assert rtsp.extract(tcp_frame(payload, dport=554, from_server=True), CTX) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"RTSP/1.0 2x OK\r\n\r\n", "rtsp_status_line"),
        (b"RTSP/3.0 200 OK\r\n\r\n", "rtsp_status_line"),
        (b"DESCRIBE rtsp://x/ HTTP/1.1\r\n\r\n", "rtsp_request_line"),
    ],
)
def test_rtsp_malformed_heads_raise_decode_error(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        rtsp.extract(tcp_frame(payload, dport=554), CTX)
    assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300))
def test_rtsp_raises_only_decode_error_on_arbitrary_heads(body: bytes) -> None:
    for payload in (b"RTSP/1.0 " + body, b"DESCRIBE rtsp://" + body, body):
        with contextlib.suppress(DecodeError):
            rtsp.extract(tcp_frame(payload, dport=554), CTX)
