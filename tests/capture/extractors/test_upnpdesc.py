"""UPnP device descriptions in HTTP response bodies: root device only, reassembled, bounded."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from capture.extractors import ExtractContext, http, upnpdesc
from capture.fingerprints import load_rules
from capture.frame import Frame
from capture.observation import Observation, Role
from tests.capture.extractors.tcpframes import SERVER_IP, SERVER_MAC, read_frames, tcp_frame

# A description laid out as UPnP Device Architecture 1.1 §2.3 shows it: root device identity
# first, then its service list and an embedded device with a maker of its own.
DESCRIPTION = (
    b'<?xml version="1.0"?>\r\n'
    b'<root xmlns="urn:schemas-upnp-org:device-1-0">'
    b"<specVersion><major>1</major><minor>1</minor></specVersion>"
    b"<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>"
    b"<friendlyName>Lab &amp; Office Gateway</friendlyName>"
    b"<manufacturer>Example Networks</manufacturer>"
    b"<modelDescription>Example gateway</modelDescription>"
    b"<modelName>EX-1000</modelName><modelNumber>1.0</modelNumber>"
    b"<UDN>uuid:00000000-0000-0000-0000-000000000001</UDN>"
    b"<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1"
    b"</serviceType></service></serviceList>"
    b"<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>"
    b"<friendlyName>WANDevice</friendlyName><manufacturer>MiniUPnP</manufacturer>"
    b"<modelName>WAN Device</modelName></device></deviceList></device></root>"
)
ROOT_FACTS = {
    "upnp_device_type": "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "upnp_friendly_name": "Lab & Office Gateway",
    "upnp_manufacturer": "Example Networks",
    "upnp_model_description": "Example gateway",
    "upnp_model_name": "EX-1000",
    "upnp_model_number": "1.0",
}
PORT = 49152


def _head(length: int, content_type: bytes = b'text/xml; charset="utf-8"') -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nContent-Length: "
        + str(length).encode() + b"\r\nServer: Linux/4.4 UPnP/1.0 Example/1.0\r\n\r\n"
    )  # fmt: skip


def _segments(message: bytes, cuts: list[int], seq: int = 5000) -> list[Frame]:
    """The message split at `cuts`, as server segments with consecutive sequence numbers."""
    bounds = [0, *cuts, len(message)]
    return [
        tcp_frame(message[a:b], sport=50000, dport=PORT, from_server=True, seq=seq + a)
        for a, b in itertools.pairwise(bounds)
    ]


def _run(frames: list[Frame], ctx: ExtractContext | None = None) -> list[Observation]:
    ctx = ctx or ExtractContext()
    return [obs for frame in frames for obs in http.extract(frame, ctx)]


def _upnp(observations: list[Observation]) -> list[dict[str, object]]:
    return [
        {k: v for k, v in obs.facts.items() if k.startswith("upnp_")}
        for obs in observations
        if any(k.startswith("upnp_") for k in obs.facts)
    ]


def test_root_device_reads_only_the_root_devices_identity() -> None:
    assert upnpdesc.root_device(DESCRIPTION, complete=True) == ROOT_FACTS


def test_root_device_waits_until_the_identity_part_has_arrived() -> None:
    cut = DESCRIPTION.index(b"<modelName>")
    assert upnpdesc.root_device(DESCRIPTION[:cut], complete=False) is None
    # A body that ends early (Content-Length reached) gives what it has.
    partial = upnpdesc.root_device(DESCRIPTION[:cut], complete=True)
    assert partial is not None and "upnp_model_name" not in partial
    assert partial["upnp_manufacturer"] == "Example Networks"


@pytest.mark.parametrize(
    "body",
    [
        # a service description (SCPD, UDA §2.5): another namespace
        b'<?xml version="1.0"?><scpd xmlns="urn:schemas-upnp-org:service-1-0"><actionList/></scpd>',
        # a root element without the UPnP device namespace
        b'<?xml version="1.0"?><root xmlns="urn:example:other"><device>'
        b"<manufacturer>X</manufacturer></device></root>",
        # an Edimax smart-plug reply: XML, not a description
        b'<?xml version="1.0" encoding="UTF8"?><SMARTPLUG id="edimax"><CMD id="get">'
        b"</CMD></SMARTPLUG>",
    ],
)
def test_root_device_is_empty_for_xml_that_is_not_a_device_description(body: bytes) -> None:
    assert upnpdesc.root_device(body, complete=True) == {}


def test_http_reads_a_description_whole_in_one_segment_into_the_response() -> None:
    [obs] = _run(_segments(_head(len(DESCRIPTION)) + DESCRIPTION, []))
    assert obs.role is Role.SERVER and (obs.mac, obs.ip) == (SERVER_MAC, SERVER_IP)
    assert obs.facts["server"] == "Linux/4.4 UPnP/1.0 Example/1.0"
    assert _upnp([obs]) == [ROOT_FACTS]


@pytest.mark.parametrize("cut", [10, 150, 300, 420])
def test_http_reassembles_a_description_split_across_segments(cut: int) -> None:
    message = _head(len(DESCRIPTION)) + DESCRIPTION
    head = len(_head(len(DESCRIPTION)))
    ctx = ExtractContext()
    observations = _run(_segments(message, [head, head + cut, head + 2 * cut]), ctx)
    *early, whole = _upnp(observations)
    assert whole == ROOT_FACTS
    # The body's first segment (what a live sensor gets) reports the elements whole in it.
    for partial in early:
        assert partial and partial.items() < ROOT_FACTS.items()
    assert len(early) == (1 if cut > DESCRIPTION.index(b"</deviceType>") else 0)
    assert observations[-1].facts["port"] == PORT
    assert len(ctx.flows) == 0  # the flow's state is dropped once the identity is read


def test_http_ignores_a_retransmitted_segment_and_gives_up_after_a_gap() -> None:
    message = _head(len(DESCRIPTION)) + DESCRIPTION
    head = len(_head(len(DESCRIPTION)))
    first, second, third = _segments(message, [head, head + 200])
    ctx = ExtractContext()
    assert _upnp(_run([first, second, second, third], ctx))[-1] == ROOT_FACTS
    # The middle segment lost: the third does not continue the body, nothing is invented.
    ctx = ExtractContext()
    assert _upnp(_run([first, third], ctx)) == []
    assert len(ctx.flows) == 0


def test_http_collects_no_body_for_responses_that_are_not_xml() -> None:
    html = b"<html><body>" + b"x" * 2000 + b"</body></html>"
    message = _head(len(html), b"text/html") + html
    ctx = ExtractContext()
    _run(_segments(message, [100, 1500]), ctx)
    assert len(ctx.flows) == 0


def test_http_collects_at_most_the_body_bound_per_flow() -> None:
    # The identity part never ends: the body is kept only up to the bound, then read as is.
    body = DESCRIPTION[: DESCRIPTION.index(b"<serviceList>")]
    padded = body.replace(b"<UDN>", b"<UDN>" + b"u" * 6000)
    message = _head(len(padded) + 1000) + padded
    head = len(_head(len(padded) + 1000))
    ctx = ExtractContext()
    cuts = list(range(head, len(message), 1000))
    frames = _segments(message, cuts)
    observations = _run(frames[:-1], ctx)
    assert all(
        len(s.get("body", b"")) <= upnpdesc.BODY_MAX_BYTES for s in ctx.flows._flows.values()
    )
    observations += _run(frames[-1:], ctx)
    *_, facts = _upnp(observations)  # after the body's first segment's own report
    assert facts["upnp_model_name"] == "EX-1000"  # before the padding, inside the bound
    assert len(ctx.flows) == 0


@pytest.mark.corpus
def test_http_reads_the_unifi_dream_machine_description_in_ja4_http1(corpus: Path) -> None:
    # ja4/http1.pcapng frames 73-76: GET /rootDesc.xml to 192.168.1.1:41547 and the
    # 3 282-byte answer in three segments (labels.json evidence; tshark follow of the stream).
    ctx = ExtractContext()
    found: list[Observation] = []
    for frame in read_frames(corpus / "ja4/http1.pcapng"):
        if frame.is_tcp and frame.src_ip == "192.168.1.1" and frame.src_port == 41547:
            found += [o for o in http.extract(frame, ctx) if "upnp_model_name" in o.facts]
    assert found, "no description read"
    assert {o.mac for o in found} == {"7a:45:58:c0:1d:c0"}
    assert _upnp(found[:1]) == [
        {
            "upnp_device_type": "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
            "upnp_friendly_name": "UniFi Dream Machine",
            "upnp_manufacturer": "Ubiquiti Networks",
            "upnp_model_description": "UniFi Dream Machine SE",
            "upnp_model_name": "UDM-SE",
            "upnp_model_number": "00039513",
        }
    ]


_RULES = {rule.id: rule for rule in load_rules()}


@pytest.mark.parametrize(
    "maker",
    [
        "MiniUPnP",  # miniupnpd's embedded WANDevice (ja4/http1.pcapng)
        "Justin Maggard",  # MiniDLNA default
        "Microsoft Corporation",  # Windows Media Player Network Sharing on any PC
        "Plex, Inc.",
        "OpenWrt",
    ],
)
def test_upnp_manufacturer_of_host_software_names_no_vendor(maker: str) -> None:
    assert _RULES["upnp-desc-manufacturer"].match(maker) is None


@pytest.mark.parametrize(
    "name",
    [
        "MiniUPnPd",
        "WAN Device",
        "Windows Media Player Sharing",
        "Windows Media Connect compatible (MiniDLNA)",
        "Plex Media Server",
        "Wireless Router",
        "Linux IGD",
        "OpenWrt router",
    ],
)
def test_upnp_model_name_that_is_generic_or_software_gives_no_model(name: str) -> None:
    assert _RULES["upnp-desc-model-name"].match(name) is None
