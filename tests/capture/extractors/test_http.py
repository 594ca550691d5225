"""HTTP extractor: real request/response heads from the corpus, built ones, malformed ones."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, http
from capture.frame import Frame
from capture.observation import Role
from tests.capture.extractors.tcpframes import (
    CLIENT_IP,
    CLIENT_MAC,
    SERVER_IP,
    SERVER_MAC,
    read_frames,
    tcp_frame,
)


def _offered(frame: Frame) -> bool:
    """What the triage offers http: its ports, or a payload wants() accepts."""
    ports = http.TCP_PORTS
    return frame.is_tcp and (
        frame.src_port in ports or frame.dst_port in ports or http.wants(frame)
    )


def _heads(path: Path) -> tuple[set[str], set[str]]:
    ctx = ExtractContext()
    servers: set[str] = set()
    agents: set[str] = set()
    for frame in read_frames(path):
        if not _offered(frame):
            continue
        for obs in http.extract(frame, ctx):
            if obs.role is Role.SERVER and "server" in obs.facts:
                servers.add(str(obs.facts["server"]))
            if obs.role is Role.CLIENT and "user_agent" in obs.facts:
                agents.add(str(obs.facts["user_agent"]))
    return servers, agents


# MANIFEST.md "HTTP Server" / "HTTP User-Agent" lines of each capture, exactly.
@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "servers", "agents"),
    [
        (
            "chrissanders-packets/http_google.pcapng",
            {"gws"},
            {
                "Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7"
            },
        ),
        ("nDPI/ipp.pcap", {"Virata-EmWeb/R6_2_1"}, {"CUPS/1.3.4"}),
        (
            "chrissanders-packets/arppoison.pcapng",
            {"gws", "Golfe"},
            {
                "Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9.1.8) Gecko/20100214 Ubuntu/9.10 (karmic) Firefox/3.5.8"
            },
        ),
    ],
)
def test_http_extracts_manifest_server_and_user_agent(
    corpus: Path, name: str, servers: set[str], agents: set[str]
) -> None:
    assert _heads(corpus / name) == (servers, agents)


@pytest.mark.corpus
def test_http_extracts_home_network_banners_of_ja4_http1(corpus: Path) -> None:
    servers, agents = _heads(corpus / "ja4/http1.pcapng")
    # MANIFEST.md lists these servers exactly and the first five user agents it found.
    assert servers == {"Debian/bullseye UPnP/1.1 MiniUPnPd/2.1", "AmazonS3", "cloudflare"}
    assert {
        "AirControl Agent v1.0",
        "UPnP/1.0",
        "Linux, UPnP/1.1, MiniUPnPc/2.1",
        "Network_Module/1.0 (RX-A8A)",
    } <= agents
    # The manifest cuts the Chromecast UA after "CrKey/1.5"; the full value is longer.
    chromecast = "Mozilla/5.0 (Linux; Android 11.0; Build/RQ1A.210105.003) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/92.0.4515.159 Safari/537.36 CrKey/1.5"
    assert any(a.startswith(chromecast) for a in agents)


def test_http_request_gives_method_host_path_without_query_and_user_agent() -> None:
    frame = tcp_frame(
        b"GET /cgi-bin/login.cgi?user=admin&pw=secret HTTP/1.1\r\nHost: cam.local:8080\r\n"
        b"User-Agent: Dalvik/2.1.0 (Linux; U; Android 10)\r\nCookie: s=1\r\n\r\n",
        dport=8080,
    )
    [obs] = http.extract(frame, ExtractContext())
    assert obs.role is Role.CLIENT
    assert (obs.mac, obs.ip) == (CLIENT_MAC, CLIENT_IP)
    assert dict(obs.facts) == {
        "method": "GET",
        "path": "/cgi-bin/login.cgi",
        "version": "1.1",
        "host": "cam.local:8080",
        "user_agent": "Dalvik/2.1.0 (Linux; U; Android 10)",
    }


def test_http_response_gives_status_server_realm_and_content_type() -> None:
    # A Hikvision-style digest challenge (realm/format as in recog/http_wwwauth.json).
    frame = tcp_frame(
        b"HTTP/1.1 401 Unauthorized\r\nServer: App-webs/\r\nContent-Type: text/html\r\n"
        b'WWW-Authenticate: Digest qop="auth", realm="IP Camera(C1234)", nonce="abc"\r\n\r\n',
        from_server=True,
    )
    [obs] = http.extract(frame, ExtractContext())
    assert obs.role is Role.SERVER
    assert (obs.mac, obs.ip) == (SERVER_MAC, SERVER_IP)
    assert obs.facts["status"] == 401
    assert obs.facts["server"] == "App-webs/"
    assert obs.facts["realm"] == "IP Camera(C1234)"
    assert obs.facts["auth_scheme"] == "Digest"
    assert obs.facts["content_type"] == "text/html"
    assert obs.facts["port"] == 80


def test_http_basic_realm_without_quotes_is_read() -> None:
    frame = tcp_frame(
        b"HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=NETGEAR\r\n\r\n",
        from_server=True,
    )
    [obs] = http.extract(frame, ExtractContext())
    assert (obs.facts["auth_scheme"], obs.facts["realm"]) == ("Basic", "NETGEAR")


def test_http_header_text_is_capped_and_stripped_of_control_characters() -> None:
    frame = tcp_frame(
        b"GET / HTTP/1.1\r\nUser-Agent: a\x1b[31mb" + b"x" * 2000 + b"\r\n\r\n", dport=80
    )
    [obs] = http.extract(frame, ExtractContext(text_max_bytes=64))
    agent = str(obs.facts["user_agent"])
    assert len(agent.encode()) <= 64
    assert "\x1b" not in agent and agent.startswith("a [31mb")


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x01binary body",
        b"<html><body>continuation</body></html>",
        b"",
        b"GETX / HTTP/1.1\r\n",
    ],
)
def test_http_ignores_segments_that_do_not_start_a_message(payload: bytes) -> None:
    assert http.extract(tcp_frame(payload, dport=80), ExtractContext()) == []


def test_http_request_line_longer_than_its_segment_is_skipped_not_an_error() -> None:
    frame = tcp_frame(b"GET /track?" + b"x" * 1400, dport=80)
    assert http.extract(frame, ExtractContext()) == []


def test_http_leaves_sip_requests_to_the_sip_extractor() -> None:
    frame = tcp_frame(b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/TCP nm\r\n\r\n", dport=5060)
    assert http.extract(frame, ExtractContext()) == []


def test_http_wants_requests_and_responses_on_any_port() -> None:
    assert http.wants(tcp_frame(b"GET /rootDesc.xml HTTP/1.1\r\n\r\n", dport=49000))
    assert http.wants(tcp_frame(b"HTTP/1.1 200 OK\r\n\r\n", dport=49000, from_server=True))
    assert not http.wants(tcp_frame(b"\x16\x03\x01\x02\x00\x01", dport=49000))


@pytest.mark.parametrize(
    "payload",
    [
        # status code is not three digits
        bytes.fromhex("485454502f312e3120323030304f4b0d0a0d0a"),  # "HTTP/1.1 2000OK"
        # version token is "HTTP/1.1x": longer than HTTP/1.x
        b"HTTP/1.1x 200 OK\r\n\r\n",
        # request line with four tokens
        bytes.fromhex("474554202f6120622048545450") + b"/1.1\r\n\r\n",  # "GET /a b HTTP/1.1"
        # request line whose version is not HTTP or SIP
        b"GET / FTP/1.0\r\n\r\n",
        # request line never ends within the head bound (8 KiB of target, no CR LF)
        b"GET /" + b"a" * 9000,
    ],
)
def test_http_malformed_heads_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        http.extract(tcp_frame(payload, dport=80), ExtractContext())


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"GET ", b"HTTP/1.1 ", b"POST /x HTTP/1.0\r\n", b"NOTIFY "]),
    body=st.binary(max_size=300),
)
def test_http_raises_only_decode_error_on_arbitrary_payload(prefix: bytes, body: bytes) -> None:
    for from_server in (False, True):
        frame = tcp_frame(prefix + body, dport=80, from_server=from_server)
        with contextlib.suppress(DecodeError):
            http.extract(frame, ExtractContext())
