"""wsd extractor on the WS-Discovery Resolve capture and a built printer Hello."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.errors import DecodeError
from capture.extractors import ExtractContext, wsd
from capture.observation import Role
from tests.capture.extractors.framing import read_frames, udp_frame

CTX = ExtractContext()

HELLO = b"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof"
 xmlns:print="http://schemas.microsoft.com/windows/2006/08/wdp/print">
<soap:Header>
 <wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>
 <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</wsa:Action>
 <wsa:MessageID>urn:uuid:0b3b7f1e-1111-2222-3333-001ba99ec956</wsa:MessageID>
</soap:Header>
<soap:Body><wsd:Hello>
 <wsa:EndpointReference><wsa:Address>urn:uuid:e3248000-80ce-11db-8000-001ba99ec956</wsa:Address></wsa:EndpointReference>
 <wsd:Types>wsdp:Device print:PrintDeviceType</wsd:Types>
 <wsd:Scopes>http://schemas.xmlsoap.org/ws/2006/02/devprof/device</wsd:Scopes>
 <wsd:XAddrs>http://192.0.2.70:80/WebServices/Device</wsd:XAddrs>
 <wsd:MetadataVersion>1</wsd:MetadataVersion>
</wsd:Hello></soap:Body></soap:Envelope>"""


def test_wsd_resolve_names_the_brother_printer_endpoint(corpus: Path) -> None:
    obs = [
        o
        for f in read_frames(corpus / "nDPI/upnp.pcap")
        if f.is_udp and 3702 in (f.src_port, f.dst_port)
        for o in wsd.extract(f, CTX)
    ]
    assert obs and all(o.role is Role.CLIENT and o.fact("action") == "Resolve" for o in obs)
    # MANIFEST: endpoint uuid ends in MAC 00:1b:a9:9e:c9:56 (Brother OUI)
    assert {o.fact("resolves") for o in obs} == {"urn:uuid:e3248000-80ce-11db-8000-001ba99ec956"}


def test_wsd_printer_hello_types_xaddrs_scopes() -> None:
    (obs,) = wsd.extract(udp_frame(HELLO, 3702, 3702, src="192.0.2.70"), CTX)
    assert obs.role is Role.ANNOUNCER and obs.fact("action") == "Hello"
    assert obs.fact("types") == ("wsdp:Device", "print:PrintDeviceType")
    assert obs.fact("xaddrs") == ("http://192.0.2.70:80/WebServices/Device",)
    assert obs.fact("scopes") == ("http://schemas.xmlsoap.org/ws/2006/02/devprof/device",)
    assert obs.fact("endpoint") == "urn:uuid:e3248000-80ce-11db-8000-001ba99ec956"


@pytest.mark.parametrize(
    "payload",
    [
        # billion-laughs style entity definition: refused before parsing
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><e>&b;</e>',
        # not well-formed XML
        b"<soap:Envelope><unclosed>",
        # well-formed but not a SOAP envelope
        b"<html><body>hi</body></html>",
        # an envelope with an unknown action
        HELLO.replace(b"discovery/Hello", b"discovery/Dance"),
        # over the 32 KiB bound
        b"<a>" + b"x" * 40000 + b"</a>",
    ],
)
def test_wsd_rejects_unsafe_or_malformed_xml(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        wsd.extract(udp_frame(payload, 3702, 3702), CTX)
