"""tivo extractor: TiVo Connect beacons as real DVRs, TiVo Desktop and MiniDLNA send them."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, tivo
from capture.observation import Role
from tests.capture.extractors.framing import read_frames
from tests.capture.extractors.tcpframes import tcp_frame, udp_frame

CTX = ExtractContext()
# Beacons as logged from real units (a Series3 DVR; TiVo Desktop on Windows 7 SP1).
DVR = (
    b"tivoconnect=1\nswversion=11.0k-01-2-652\nmethod=broadcast\nidentity=6520201806EEAAE\n"
    b"machine=Living Room\nplatform=tcd/Series3\nservices=TiVoMediaServer:80/http\n"
)
DESKTOP = (
    b"TiVoConnect=1\nMachine=HPQUAD\nIdentity={E2C4F367-F194-4C8D-84B6-EBDF47CCF26E}\n"
    b"Method=Broadcast\nPlatform=pc/WinNT:6.1.7601\nServices=TiVoMediaServer:8080/http\n"
)


def _beacon(payload: bytes) -> dict[str, object]:
    [obs] = tivo.extract(udp_frame(payload, sport=2190, dport=2190), CTX)
    assert obs.role is Role.ANNOUNCER
    return dict(obs.facts)


def test_tivo_dvr_beacon() -> None:
    assert _beacon(DVR) == {
        "platform": "tcd/Series3",
        "machine": "Living Room",
        "swversion": "11.0k-01-2-652",
        "identity": "6520201806EEAAE",
        "method": "broadcast",
        "services": ("TiVoMediaServer:80/http",),
    }


def test_tivo_desktop_beacon_with_capitalised_keys() -> None:
    facts = _beacon(DESKTOP)
    assert facts["platform"] == "pc/WinNT:6.1.7601"
    assert facts["machine"] == "HPQUAD"
    assert facts["method"] == "broadcast"
    assert "swversion" not in facts


def test_tivo_beacon_over_tcp_has_a_length_prefix() -> None:
    connected = DVR.replace(b"method=broadcast", b"method=connected")
    frame = tcp_frame(struct.pack("!I", len(connected)) + connected, sport=2190, dport=50000)
    [obs] = tivo.extract(frame, CTX)
    assert obs.facts["method"] == "connected" and obs.facts["platform"] == "tcd/Series3"


def test_tivo_several_services_are_a_tuple() -> None:
    payload = DVR.replace(
        b"services=TiVoMediaServer:80/http", b"services=TiVoMediaServer:80/http,TiVoMusic:80/http"
    )
    assert _beacon(payload)["services"] == ("TiVoMediaServer:80/http", "TiVoMusic:80/http")


@pytest.mark.parametrize("payload", [b"", b"GET / HTTP/1.1\r\n\r\n", bytes(40)])
def test_tivo_ignores_other_traffic_on_the_port(payload: bytes) -> None:
    assert tivo.extract(udp_frame(payload, sport=40000, dport=2190), CTX) == []


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (udp_frame(b"tivoconnect=2\nmachine=x\n", sport=2190, dport=2190), "tivo_version"),
        (udp_frame(b"tivoconnect=1\n" + b"x" * 5000, sport=2190, dport=2190), "tivo_length"),
        (tcp_frame(struct.pack("!I", 900) + DVR, sport=2190, dport=50000), "tivo_length"),
    ],
)
def test_tivo_malformed_beacons_raise_decode_error(frame: object, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        tivo.extract(frame, CTX)  # type: ignore[arg-type]
    assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=400))
def test_tivo_raises_only_decode_error_on_arbitrary_beacons(body: bytes) -> None:
    for payload in (b"tivoconnect=" + body, body):
        with contextlib.suppress(DecodeError):
            tivo.extract(udp_frame(payload, sport=2190, dport=2190), CTX)
            tivo.extract(tcp_frame(payload, sport=2190, dport=50000), CTX)


@pytest.mark.corpus
def test_tivo_beacon_of_the_corpus(corpus: Path) -> None:
    # MANIFEST.md: a TiVoConnect beacon from a Netgear R7000P running minidlna (two copies).
    path = corpus / "nDPI/TivoDVR.pcap"
    observed = [o for f in read_frames(path) if f.is_udp for o in tivo.extract(f, CTX)]
    assert len(observed) == 2
    assert {(o.mac, o.ip) for o in observed} == {("02:cc:c0:a8:c9:df", "98.245.242.69")}
    assert dict(observed[0].facts) == {
        "platform": "pc/minidlna",
        "machine": "R7000P",
        "swversion": "1.0",
        "identity": "uuid:4d696e69-444c-164e-9d41-1459c099c043",
        "method": "broadcast",
        "services": ("TiVoMediaServer:8200/http",),
    }
