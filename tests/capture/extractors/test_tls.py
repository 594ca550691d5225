"""TLS ClientHello extractor: JA4 against FoxIO's published values, SNI/ALPN, split hellos."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, tls
from capture.frame import Frame
from capture.observation import Observation, Role
from tests.capture.extractors.tcpframes import (
    CLIENT_IP,
    read_frames,
    run,
    tcp_frame,
    tcp_payload_frames,
)


def _offered(frame: Frame) -> bool:
    ports = tls.TCP_PORTS
    return frame.is_tcp and (frame.src_port in ports or frame.dst_port in ports or tls.wants(frame))


def _observations(path: Path) -> list[Observation]:
    return run(tls, (f for f in read_frames(path) if _offered(f)))


def _hellos(path: Path) -> list[Observation]:
    return [o for o in _observations(path) if o.role is Role.CLIENT]


# Expected JA4 per client port: FoxIO-LLC/ja4 python/test/testdata/tls-handshake.pcapng.json
# (commit 22709e16401e0e10cb77ece75c0d554c629bdc7e), the reference tool's output for this file.
FOXIO_JA4 = {
    50112: ("clientservices.googleapis.com", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
    50122: ("lp-push-server-452.lastpass.com", "t13d1516h1_8daaf6152771_e5627efa2ab1"),
    50123: ("mtalk.google.com", "t13d151400_8daaf6152771_de4a06bb82e3"),
    50153: ("edge-chat.facebook.com", "t13d1517h1_8daaf6152771_6cdcb247c39b"),
    50170: ("target.microsoft.com", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
}


@pytest.mark.corpus
def test_tls_ja4_matches_foxio_reference_output(corpus: Path) -> None:
    seen = {
        o.flow.src_port: (o.facts["sni"], o.facts["ja4"])
        for o in _hellos(corpus / "ja4/tls-handshake.pcapng")
        if o.flow is not None
    }
    for port, expected in FOXIO_JA4.items():
        assert seen[port] == expected, port


@pytest.mark.corpus
def test_tls_extracts_manifest_sni_values(corpus: Path) -> None:
    hellos = _hellos(corpus / "ja4/tls-handshake.pcapng")
    assert all(o.role is Role.CLIENT and o.ip == "192.168.1.168" for o in hellos)
    # MANIFEST.md "SNI e.g." list for this capture.
    assert {
        "static.xx.fbcdn.net",
        "video-iad3-2.xx.fbcdn.net",
        "mem.gfx.ms",
        "content-autofill.googleapis.com",
        "is2-ssl.mzstatic.com",
    } <= {o.facts["sni"] for o in hellos}
    assert {o.facts["alpn"] for o in hellos} == {("h2", "http/1.1"), ("http/1.1",), ()}


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "snis"),
    [
        ("nDPI/sonos.pcapng", {"192.168.1.70"}),
        (
            "iot-inspector-client/application_data.pcap",
            {"ade.googlesyndication.com", "courier.push.apple.com", "ad.doubleclick.net"},
        ),
    ],
)
def test_tls_extracts_sni_of_other_captures(corpus: Path, name: str, snis: set[str]) -> None:
    assert snis <= {o.facts.get("sni") for o in _hellos(corpus / name)}


def _hello_payload(corpus: Path, port: int) -> bytes:
    for frame in read_frames(corpus / "ja4/tls-handshake.pcapng"):
        if frame.src_port == port and tls.wants(frame):
            return frame.payload
    raise AssertionError(port)


@pytest.mark.corpus
def test_tls_client_hello_split_over_two_segments_gives_the_same_ja4(corpus: Path) -> None:
    payload = _hello_payload(corpus, 50112)
    first = tcp_frame(payload[:200], dport=443, seq=1000)
    second = tcp_frame(payload[200:], dport=443, seq=1200)
    ctx = ExtractContext()
    [partial] = tls.extract(first, ctx)  # what a live sensor gets of this hello
    assert partial.facts["truncated"] is True and "ja4" not in partial.facts
    [obs] = tls.extract(second, ctx)
    assert obs.facts["ja4"] == FOXIO_JA4[50112][1]
    assert "truncated" not in obs.facts
    assert obs.ip == CLIENT_IP
    assert len(ctx.flows) == 0  # reassembly state is released


@pytest.mark.corpus
def test_tls_broken_sequence_reports_partial_hello_without_ja4(corpus: Path) -> None:
    payload = _hello_payload(corpus, 50112)
    ctx = ExtractContext()
    [obs] = tls.extract(tcp_frame(payload[:300], dport=443, seq=1000), ctx)
    assert obs.facts["truncated"] is True
    assert "ja4" not in obs.facts
    assert obs.facts["sni"] == "clientservices.googleapis.com"
    # The break adds nothing to what was reported: no second observation, state released.
    assert tls.extract(tcp_frame(b"\x17\x03\x03\x00\x10", dport=443, seq=9999), ctx) == []
    assert len(ctx.flows) == 0


@pytest.mark.corpus
def test_tls_broken_sequence_after_more_segments_reports_them(corpus: Path) -> None:
    payload = _hello_payload(corpus, 50112)
    ctx = ExtractContext()
    # 60 bytes end inside the cipher suites: nothing to report yet, and no error.
    assert tls.extract(tcp_frame(payload[:60], dport=443, seq=1000), ctx) == []
    assert tls.extract(tcp_frame(payload[60:300], dport=443, seq=1060), ctx) == []
    [obs] = tls.extract(tcp_frame(b"\x17\x03\x03\x00\x10", dport=443, seq=9999), ctx)
    assert obs.facts["truncated"] is True
    assert obs.facts["sni"] == "clientservices.googleapis.com"


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _record(ciphers: list[int], extensions: bytes) -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00"
    body += struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
    body += b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def test_tls_ja4_ignores_grease_and_follows_the_spec_fields() -> None:
    sni = _ext(0x0000, struct.pack("!HBH", 10, 0, 7) + b"cam.lan")
    alpn = _ext(0x0010, struct.pack("!H", 3) + b"\x02h2")
    versions = _ext(0x002B, b"\x06\x1a\x1a\x03\x04\x03\x03")
    sigs = _ext(0x000D, struct.pack("!HHH", 4, 0x0403, 0x0804))
    grease = _ext(0x0A0A, b"")
    record = _record([0x0A0A, 0x1302, 0x1301], grease + sni + alpn + versions + sigs)
    [obs] = tls.extract(tcp_frame(record, dport=443), ExtractContext())
    # JA4.md: 2 ciphers and 4 extensions once GREASE is dropped; ALPN "h2"; the extension hash
    # covers 000d,002b (SNI and ALPN removed) then the signature algorithms in wire order.
    b = hashlib.sha256(b"1301,1302").hexdigest()[:12]
    c = hashlib.sha256(b"000d,002b_0403,0804").hexdigest()[:12]
    assert obs.facts["ja4"] == f"t13d0204h2_{b}_{c}"
    assert (obs.facts["sni"], obs.facts["alpn"], obs.facts["tls_version"]) == (
        "cam.lan",
        ("h2",),
        "1.3",
    )


@pytest.mark.parametrize(
    ("alpn", "chars"),
    [(b"http/1.1", "h1"), (b"\xab", "ab"), (b"\xab\xcd", "ad"), (b"0\xab", "3b"), (b"x", "xx")],
)
def test_tls_ja4_alpn_characters_follow_the_spec_examples(alpn: bytes, chars: str) -> None:
    ext = _ext(0x0010, struct.pack("!HB", len(alpn) + 1, len(alpn)) + alpn)
    [obs] = tls.extract(tcp_frame(_record([0x002F], ext), dport=443), ExtractContext())
    assert str(obs.facts["ja4"])[8:10] == chars


def test_tls_hello_without_extensions_is_tls_1_0_style_and_no_sni() -> None:
    body = b"\x03\x01" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    record = b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs
    [obs] = tls.extract(tcp_frame(record, dport=443), ExtractContext())
    assert str(obs.facts["ja4"]).startswith("t10i010000_")
    assert str(obs.facts["ja4"]).endswith("_000000000000")


def test_tls_ignores_application_data_and_wants_only_client_hellos() -> None:
    data = tcp_frame(b"\x17\x03\x03\x00\x20" + bytes(32), dport=443)
    assert tls.extract(data, ExtractContext()) == []
    assert not tls.wants(data)
    assert tls.wants(tcp_frame(_record([0x002F], b""), dport=10443))


@pytest.mark.parametrize(
    "record",
    [
        # handshake body of 10 bytes: cut inside the 32-byte random
        bytes.fromhex("160301000e0100000a0303") + bytes(8),
        # cipher-suites length 3 is odd
        bytes.fromhex("160301002c010000280303") + bytes(32) + bytes.fromhex("000003002f00"),
        # cipher-suites length 0x0100 runs past the end of the body
        bytes.fromhex("160301002b010000270303") + bytes(32) + bytes.fromhex("000100002f"),
    ],
)
def test_tls_malformed_client_hello_raises_decode_error(record: bytes) -> None:
    with pytest.raises(DecodeError):
        tls.extract(tcp_frame(record, dport=443), ExtractContext())


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=400), declared=st.integers(0, 0xFFFF))
def test_tls_raises_only_decode_error_on_arbitrary_hello_bytes(body: bytes, declared: int) -> None:
    record = b"\x16\x03\x01" + struct.pack("!H", declared) + b"\x01" + body
    ctx = ExtractContext()
    for seq, payload in ((1000, record), (1000 + len(record), body)):
        with contextlib.suppress(DecodeError):
            tls.extract(tcp_frame(payload, dport=443, seq=seq), ctx)


# --- the server's flight: version and certificate ------------------------------------------


def _server_hello(version_ext: int | None = None, legacy: int = 0x0303) -> bytes:
    """A ServerHello handshake message (RFC 8446 §4.1.3), optionally with supported_versions."""
    exts = b""
    if version_ext is not None:
        exts = _ext(0x002B, struct.pack("!H", version_ext))
    body = struct.pack("!H", legacy) + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00"
    body += struct.pack("!H", len(exts)) + exts
    return b"\x02" + len(body).to_bytes(3, "big") + body


def _certificate_message(*ders: bytes) -> bytes:
    chain = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    body = len(chain).to_bytes(3, "big") + chain
    return b"\x0b" + len(body).to_bytes(3, "big") + body


def _records(messages: bytes, version: bytes = b"\x03\x03") -> bytes:
    return b"\x16" + version + struct.pack("!H", len(messages)) + messages


def _hue_like_certificate() -> bytes:
    """A certificate shaped like a Hue bridge's (issuer C=NL, O=Philips Hue, CN=root-bridge)."""

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Philips Hue"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("ecb5fafffe123456"))
        .issuer_name(name("root-bridge"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ecb5fafffe123456")]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_tls_server_flight_split_over_segments_gives_version_and_certificate() -> None:
    der = _hue_like_certificate()
    flight = _records(
        _server_hello() + _certificate_message(der, b"\x30\x00") + b"\x0e\x00\x00\x00"
    )
    cut = 200  # inside the certificate: it runs into the second segment
    assert len(flight) > cut + 100
    ctx = ExtractContext()
    first = tcp_frame(flight[:cut], dport=443, from_server=True, seq=5000)
    assert tls.wants(first)
    # The first segment reports at once (a live sensor gets no more of the flight): the
    # version and the issuer, which ends before the cut; the subject runs past it.
    [early] = tls.extract(first, ctx)
    assert early.facts == {
        "tls_version": "1.2",
        "port": 443,
        "cert_issuer": "CN=root-bridge,O=Philips Hue,C=NL",
    }
    [obs] = tls.extract(tcp_frame(flight[cut:], dport=443, from_server=True, seq=5000 + cut), ctx)
    assert obs.role is Role.SERVER and obs.facts["port"] == 443
    assert obs.facts["tls_version"] == "1.2"
    assert obs.facts["cert_subject"] == "CN=ecb5fafffe123456,O=Philips Hue,C=NL"
    assert obs.facts["cert_issuer"] == "CN=root-bridge,O=Philips Hue,C=NL"
    assert obs.facts["cert_san"] == ("ecb5fafffe123456",)
    assert obs.facts["cert_self_signed"] is False
    assert len(ctx.flows) == 0  # nothing kept after the observation


def test_tls_13_server_hello_gives_the_version_only() -> None:
    record = _records(_server_hello(version_ext=0x0304))
    [obs] = tls.extract(tcp_frame(record, dport=443, from_server=True), ExtractContext())
    assert obs.facts["tls_version"] == "1.3" and "cert_subject" not in obs.facts


def test_tls_resumed_session_ends_at_change_cipher_spec_without_certificate() -> None:
    record = _records(_server_hello()) + b"\x14\x03\x03\x00\x01\x01"
    [obs] = tls.extract(tcp_frame(record, dport=443, from_server=True), ExtractContext())
    assert obs.facts["tls_version"] == "1.2" and "cert_subject" not in obs.facts


def test_tls_server_flight_broken_sequence_reports_the_version_read() -> None:
    der = _hue_like_certificate()
    flight = _records(_server_hello() + _certificate_message(der))
    ctx = ExtractContext()
    [early] = tls.extract(tcp_frame(flight[:100], dport=443, from_server=True, seq=1), ctx)
    [obs] = tls.extract(tcp_frame(flight[150:], dport=443, from_server=True, seq=151), ctx)
    for o in (early, obs):  # 100 bytes end inside the serial number: no name yet
        assert o.facts["tls_version"] == "1.2" and "cert_issuer" not in o.facts


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        (b"\x0b\x00\x00\x08" + bytes.fromhex("000005000002") + b"\x30\x00", "tls_certificate"),
        (b"\x0b\x00\x00\x06" + bytes.fromhex("000010000010"), "tls_certificate_length"),
        (b"\x02\x00\x00\x04\x03\x03\x00\x00", "tls_server_hello_truncated"),
    ],
)
def test_tls_malformed_server_flight_raises_decode_error(messages: bytes, reason: str) -> None:
    record = _records(_server_hello() + messages if messages[0] == 0x0B else messages)
    with pytest.raises(DecodeError) as err:
        tls.extract(tcp_frame(record, dport=443, from_server=True), ExtractContext())
    assert err.value.reason == reason


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=600))
def test_tls_raises_only_decode_error_on_arbitrary_server_flights(body: bytes) -> None:
    record = _records(_server_hello() + b"\x0b" + len(body).to_bytes(3, "big") + body)
    with contextlib.suppress(DecodeError):
        tls.extract(tcp_frame(record, dport=443, from_server=True), ExtractContext())


@pytest.mark.corpus
def test_tls_sonos_player_certificate_from_the_corpus(corpus: Path) -> None:
    """nDPI/sonos.pcapng frames 8+10: the player 192.168.1.70:1443 sends its certificate in two
    segments; subject, issuer and DNS names as tshark's x509 dissector shows them."""
    # Every TCP payload, as the triage's flow memory offers a flow tls.wants() once accepted.
    observed = run(tls, tcp_payload_frames(corpus / "nDPI/sonos.pcapng"))
    servers = [o for o in observed if o.role is Role.SERVER]
    # Frame 6 (the ServerHello), frame 8 (the start of the Certificate record: with frame 6,
    # what a live sensor gets), then the whole flight with frame 10.
    hello, early, obs = servers
    assert dict(hello.facts) == {"tls_version": "1.2", "port": 1443}
    assert early.facts["cert_issuer"] == obs.facts["cert_issuer"]
    assert early.facts["cert_subject"] == obs.facts["cert_subject"]
    assert "cert_san" not in early.facts
    assert obs.ip == "192.168.1.70" and obs.facts["port"] == 1443
    assert obs.facts["cert_issuer"] == (
        "CN=Sonos Device Authentication Root CA,OU=Sonos Devices,O=Sonos\\, Inc,"
        "L=Santa Barbara,ST=California,C=US"
    )
    assert "CN=347E5CFFA26E" in str(obs.facts["cert_subject"])
    assert obs.facts["cert_san"] == (
        "sonos-347E5CFFA26E.local",
        "sonos-347E5CFFA26E.smartspeaker.audio",
    )
