"""IPP extractor: the corpus's five real Get-Printer-Attributes bodies, framed as HTTP."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors import ExtractContext, ipp
from capture.frame import Frame
from capture.observation import Role
from tests.capture.extractors.tcpframes import SERVER_IP, conversation, read_frames, run


def _response(body: bytes, *, chunked: bool = False, segment: int = 1400) -> list[Frame]:
    if chunked:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nTransfer-Encoding: chunked\r\n\r\n"
        pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
    message = head + body
    segments = [(True, message[i : i + segment]) for i in range(0, len(message), segment)]
    return conversation(segments, dport=631)


# MANIFEST.md "Non-pcap files": the facts its RFC 8010 decoder found in each body.
EXPECTED = {
    "python-ipp/get-printer-attributes-epsonxp6000.bin": {
        "make_and_model": "EPSON XP-6000 Series",
        "firmware": "20.44.NU25M7",
        "info": "EPSON XP-6000 Series",
        "uri": ("ipps://192.168.1.92:631/ipp/print", "ipp://192.168.1.92:631/ipp/print"),
        "device_id": "MFG:EPSON;CMD:ESCPL2,BDC,D4,D4PX,ESCPR7,END4,GENEP,URF;MDL:XP-6000 Series;CLS:PRINTER;DES:EPSON XP-6000 Series;CID:EpsonRGB;FID:FXN,DPA,WFA,ETN,AFN,DAN,WRA;RID:20;DDS:022500;ELG:1000;SN:583434593035343012;URF:CP1,PQ4-5,OB9,OFU0,RS360,SRGB24,W8,DM3,IS1-7-6,V1.4",
    },
    "python-ipp/get-printer-attributes-kyocera-ecosys-m2540dn-001.bin": {
        "make_and_model": "ECOSYS M2540dn",
        "info": "mfu00-0365",
        "uri": ("ipps://10.104.12.95:443/ipp/print", "ipp://10.104.12.95:631/ipp/print"),
    },
    "document-format-supported/Canon_MX490_series.res": {
        "make_and_model": "Canon MX490 series",
        "firmware": "2.0",
        "info": "Canon MX490 series",
        "uri": ("ipp://123.45.67.89/ipp/print",),
        "device_id": "MFG:Canon;CMD:BJL,BJRaster3,BSCCe,NCCe,IVEC,IVECPLI,URF;SOJ:BJNP2,BJNPe;MDL:MX490 series;CLS:PRINTER;DES:Canon MX490 series;VER:4.050;STA:10;FSI:04;HRI:D;MSI:B240,DAT,E3,HFSF,JOFF,K21000700,LOFF;PDR:4;PSE:KKWM30114;CID:CA_IVEC1TYPE4_IJP;URF:V1.4,CP1,PQ4-5,RS60",
    },
    "document-format-supported/HP_Color_LaserJet_MFP_M477fdw.res": {
        "make_and_model": "HP Color LaserJet MFP M477fdw",
        "firmware": "20201022",
        "info": "HP Color LaserJet MFP M477fdw",
        "uri": ("ipp://123.45.67.89:631/ipp/print", "ipps://123.45.67.89:443/ipp/print"),
        "device_id": "MFG:Hewlett-Packard;CMD:PJL,PML,PCLXL,URP,PCL,PDF,POSTSCRIPT;MDL:HP Color LaserJet MFP M477fdw;CLS:PRINTER;DES:Hewlett-Packard Color LaserJet MFP M477fdw;MEM:MEM=214MB;COMMENT:RES=600x8;LEDMDIS:USB#ff#04#01;CID:HPLJPDLV1;IPP-E:FF-04-01,FF-04-01,FF-09-01,FF-09-",
    },
    "document-format-supported/Xerox_B210_Printer.res": {
        "make_and_model": "Xerox B210 Printer",
        "firmware": "80.000.60.000, 1.0,1.1,2.0, 1.4",
        "info": "Xerox B210 Printer",
        "uri": ("ipp://123.45.67.89:631/ipp/print",),
        "device_id": "MFG:Xerox;CMD:PCL6,POSTSCRIPT,SPL,PCL5E,PDF,TIFF,JPEG,PRN,URF,IDS,EXT;MDL:B210 Printer;CLS:PRINTER;CID:XR_PCL6_Basic_A4_Mono;MODE:SPL3,R000105;",
    },
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("chunked", [False, True])
def test_ipp_reads_printer_identity_from_real_attribute_responses(
    corpus: Path, name: str, chunked: bool
) -> None:
    body = (corpus / name).read_bytes()
    [obs] = run(ipp, _response(body, chunked=chunked))
    assert (obs.role, obs.ip, obs.facts["port"]) == (Role.SERVER, SERVER_IP, 631)
    for key, value in EXPECTED[name].items():
        if key == "device_id":  # the manifest cuts long device ids
            assert str(obs.facts[key]).startswith(value), name
        else:
            assert obs.facts[key] == value, (name, key)


@pytest.mark.corpus
def test_ipp_segment_boundaries_do_not_change_the_result(corpus: Path) -> None:
    body = (corpus / "python-ipp/get-printer-attributes-epsonxp6000.bin").read_bytes()
    results = {
        tuple(sorted(run(ipp, _response(body, segment=size))[0].facts.items()))
        for size in (97, 536, 1460, 20000)
    }
    assert len(results) == 1


@pytest.mark.corpus
def test_ipp_cups_print_session_without_identity_attributes_emits_nothing(corpus: Path) -> None:
    # nDPI/ipp.pcap: the printer's chunked Get-Printer-Attributes answer lists only state and
    # document formats (tshark), so there is no identity to report, and no error.
    frames = [
        f
        for f in read_frames(corpus / "nDPI/ipp.pcap")
        if f.is_tcp and 631 in (f.src_port, f.dst_port)
    ]
    assert run(ipp, frames) == []


def test_ipp_text_with_language_value_is_read() -> None:
    # RFC 8010 §3.9: textWithLanguage (0x35) = language length, language, text length, text.
    value = b"\x00\x05en-us\x00\x0bLobby Color"
    body = (
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x04"
        + b"\x35\x00\x0cprinter-info"
        + len(value).to_bytes(2, "big")
        + value
        + b"\x03"
    )
    [obs] = run(ipp, _response(body))
    assert obs.facts["info"] == "Lobby Color"


def test_ipp_ignores_http_responses_of_other_types() -> None:
    frames = conversation(
        [(True, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>")], dport=631
    )
    assert run(ipp, frames) == []


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: 8\r\n\r\n"
            + bytes.fromhex("0900000000000001"),
            "IPP version 9.0 does not exist",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"zz\r\n",
            "chunk size is not hexadecimal",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: 20000\r\n\r\n"
            + bytes.fromhex("02000000000000010441ffff")
            + b"n" * 9000,
            "attribute name of 65535 bytes: more than the bounded tail",
        ),
    ],
)
def test_ipp_malformed_bodies_raise_decode_error(message: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        run(ipp, conversation([(True, message)], dport=631))


def test_ipp_wants_ipp_over_http_on_any_port() -> None:
    [request] = conversation(
        [(False, b"POST /ipp/print HTTP/1.1\r\nContent-Type: application/ipp\r\n\r\n")], dport=8631
    )
    assert ipp.wants(request)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=400), cut=st.integers(1, 200))
def test_ipp_raises_only_decode_error_on_arbitrary_bodies(body: bytes, cut: int) -> None:
    ctx = ExtractContext()
    for chunked in (False, True):
        for frame in _response(
            b"\x02\x00\x00\x00\x00\x00\x00\x01" + body, chunked=chunked, segment=cut
        ):
            with contextlib.suppress(DecodeError):
                ipp.extract(frame, ctx)
