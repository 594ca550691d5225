"""SIP extractor: corpus softphones and servers, a Yealink desk phone, nmap's probe, bad lines."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from capture.errors import DecodeError
from capture.extractors import ExtractContext, sip
from capture.frame import Frame
from capture.observation import Observation, Role
from tests.capture.extractors.tcpframes import frame_of, read_frames, run, tcp_frame, udp_frame


def _offered(frame: Frame) -> bool:
    if not (frame.is_tcp or frame.is_udp):
        return False
    ports = sip.TCP_PORTS if frame.is_tcp else sip.UDP_PORTS
    return frame.src_port in ports or frame.dst_port in ports or sip.wants(frame)


def _messages(path: Path) -> list[Observation]:
    return run(sip, (f for f in read_frames(path) if _offered(f)))


def _values(observations: list[Observation], key: str) -> set[str]:
    return {str(o.facts[key]) for o in observations if key in o.facts}


# MANIFEST.md "SIP User-Agent", "SIP Server" and "SIP methods" lines, exactly.
@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "agents", "servers", "methods"),
    [
        (
            "zeek/sip__wireshark.pcap",
            {"Nero SIPPS IP Phone Version 2.0.51.16"},
            {"Cirpack/v4.38e (gw_sip)", "Sip EXpress router (0.8.12 (i386/linux))"},
            {"REGISTER", "INVITE", "CANCEL", "ACK"},
        ),
        (
            "suricata-verify/sip-body-frames__public-cloudshark-sip-s0.pcap",
            {"X-Lite release 1103m"},
            {"X-Lite release 1103m"},
            {"INVITE", "ACK", "REGISTER"},
        ),
        ("nDPI/sip_hello.pcapng", set(), {"Huawei SoftX3000 V300R011"}, {"REGISTER"}),
    ],
)
def test_sip_extracts_manifest_agents_servers_and_methods(
    corpus: Path, name: str, agents: set[str], servers: set[str], methods: set[str]
) -> None:
    messages = _messages(corpus / name)
    assert _values(messages, "user_agent") == agents
    assert _values(messages, "server") == servers
    assert _values(messages, "method") == methods
    assert all(o.role is (Role.CLIENT if "method" in o.facts else Role.SERVER) for o in messages)


@pytest.mark.corpus
def test_sip_nmap_options_probe_makes_the_scanner_a_client_only(corpus: Path) -> None:
    messages = _messages(corpus / "nmap-scan-detection-lab/nmap_sU_top100.pcapng")
    # MANIFEST.md: the nmap UDP scan from 192.168.29.14 includes SIP OPTIONS probes.
    assert messages
    assert {(o.ip, o.role, o.facts["method"]) for o in messages} == {
        ("192.168.29.14", Role.CLIENT, "OPTIONS")
    }
    assert {o.facts["from_uri"] for o in messages} == {"sip:nm@nm"}


def _yealink_frames(corpus: Path) -> list[Frame]:
    doc = json.loads((corpus / "djangopbx-docs/yealink-t27g-register.json").read_text())
    frames = []
    for message in doc["messages"]:
        (src, sport), (dst, dport) = (a.rsplit(":", 1) for a in (message["src"], message["dst"]))
        pkt = Ether() / IP(src=src, dst=dst) / UDP(sport=int(sport), dport=int(dport))
        frames.append(frame_of(pkt / message["sip_text"].encode()))
    return frames


@pytest.mark.corpus
def test_sip_yealink_desk_phone_register_and_compact_header_replies(corpus: Path) -> None:
    register, challenge, _, ok = run(sip, _yealink_frames(corpus))
    # The JSON's decode: phone 139.162.206.177 "Yealink SIP-T27G 69.86.0.15", server UA "DCM".
    assert register.role is Role.CLIENT and register.ip == "139.162.206.177"
    assert register.facts["method"] == "REGISTER"
    assert register.facts["user_agent"] == "Yealink SIP-T27G 69.86.0.15"
    assert register.facts["from_uri"] == "sip:201@test21.djangopbx.com:5060"
    assert register.facts["contact"] == "sip:201@139.162.206.177:5060"
    # The 401 uses compact headers (f:, t:) with no space after the colon.
    assert challenge.role is Role.SERVER and challenge.ip == "95.216.61.11"
    assert (challenge.facts["status"], challenge.facts["cseq_method"]) == (401, "REGISTER")
    assert challenge.facts["user_agent"] == "DCM"
    assert challenge.facts["to_uri"] == "sip:201@test21.djangopbx.com:5060"
    assert (ok.facts["status"], ok.facts["reason"]) == (200, "OK")


def test_sip_over_tcp_on_any_port_is_wanted_and_drops_uri_passwords() -> None:
    frame = tcp_frame(
        b"INVITE sip:100@pbx.lan SIP/2.0\r\nFrom: <sip:alice:hunter2@pbx.lan>;tag=1\r\n"
        b"To: <sip:100@pbx.lan>\r\nm: sip:alice@192.0.2.10:5070\r\n"
        b"User-Agent: PolycomVVX-VVX_410-UA/5.9.0.9373\r\n\r\n",
        dport=5070,
    )
    assert sip.wants(frame)
    [obs] = sip.extract(frame, ExtractContext())
    assert obs.facts["transport"] == "tcp"
    assert obs.facts["from_uri"] == "sip:alice@pbx.lan"
    assert obs.facts["contact"] == "sip:alice@192.0.2.10:5070"
    assert obs.facts["user_agent"] == "PolycomVVX-VVX_410-UA/5.9.0.9373"


@pytest.mark.parametrize(
    "payload",
    [
        b"\r\n\r\n",  # RFC 5626 keep-alive
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",  # TLS on 5061
        b"OPTIONS / HTTP/1.1\r\n\r\n",  # HTTP, not SIP
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n",  # an SDP body segment
    ],
)
def test_sip_ignores_payloads_that_are_not_sip_messages(payload: bytes) -> None:
    assert sip.extract(udp_frame(payload), ExtractContext()) == []
    assert not sip.wants(tcp_frame(payload, dport=5999))


@pytest.mark.parametrize(
    "payload",
    [
        # status code "2x0" is not three digits
        bytes.fromhex("5349502f322e302032783020") + b"OK\r\n\r\n",
        # request line with four tokens: "INVITE sip:a b SIP/2.0"
        bytes.fromhex("494e5649544520736970") + b":a b SIP/2.0\r\n\r\n",
        # status line with no code at all
        b"SIP/2.0 \r\n\r\n",
    ],
)
def test_sip_malformed_start_lines_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        sip.extract(udp_frame(payload), ExtractContext())


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from([b"SIP/2.0 ", b"INVITE sip:x SIP/2.0\r\n", b"REGISTER ", b""]),
    body=st.binary(max_size=300),
)
def test_sip_raises_only_decode_error_on_arbitrary_payload(prefix: bytes, body: bytes) -> None:
    for frame in (udp_frame(prefix + body), tcp_frame(prefix + body, dport=5060)):
        with contextlib.suppress(DecodeError):
            sip.extract(frame, ExtractContext())


@pytest.mark.corpus
def test_sip_registrar_answer_echoing_the_phones_user_agent_is_not_the_registrars(
    corpus: Path,
) -> None:
    # Frame 7 of the capture: 200.57.7.195 answers X-Lite's REGISTER with 200 OK and copies
    # the request's max-forwards and user-agent headers into it.
    messages = _messages(corpus / "suricata-verify/sip-body-frames__public-cloudshark-sip-s0.pcap")
    [ok] = [o for o in messages if o.facts.get("cseq_method") == "REGISTER"]
    assert (ok.ip, ok.role, ok.facts["register_status"]) == ("200.57.7.195", Role.SERVER, 200)
    assert "user_agent" not in ok.facts


def test_sip_response_user_agent_is_kept_unless_the_response_echoes_the_request() -> None:
    head = b"SIP/2.0 200 OK\r\nCSeq: 2 REGISTER\r\nUser-Agent: DCM\r\n"
    [own] = sip.extract(udp_frame(head + b"Content-Length: 0\r\n\r\n"), ExtractContext())
    assert own.facts["user_agent"] == "DCM" and own.facts["register_status"] == 200
    echo = head + b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    [copied] = sip.extract(udp_frame(echo), ExtractContext())
    assert "user_agent" not in copied.facts
