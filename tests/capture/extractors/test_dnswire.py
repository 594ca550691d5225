"""dnswire: names, compression, loop protection, record decoding (RFC 1035)."""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS, DNSRR, DNSRRSRV

from capture.errors import DecodeError
from capture.extractors.dnswire import (
    TYPE_A,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    dotted,
    parse_message,
    read_name,
)


def test_dnswire_reads_records_built_by_scapy() -> None:
    msg = DNS(
        id=7,
        qr=1,
        aa=1,
        qd=[],
        an=[
            DNSRR(rrname="_ipp._tcp.local", type="PTR", rdata="Office._ipp._tcp.local"),
            DNSRRSRV(rrname="Office._ipp._tcp.local", port=631, target="printer.local"),
            DNSRR(rrname="Office._ipp._tcp.local", type="TXT", rdata=[b"ty=HP", b"pdl=x"]),
            DNSRR(rrname="printer.local", type="A", rdata="192.0.2.7"),
        ],
    )
    m = parse_message(bytes(msg))
    assert m.id == 7 and m.is_response and m.error is None
    kinds = [r.rtype for r in m.records]
    assert kinds == [TYPE_PTR, TYPE_SRV, TYPE_TXT, TYPE_A]
    assert dotted(m.records[0].target or ()) == "Office._ipp._tcp.local"
    srv = m.records[1].srv
    assert srv is not None and srv.port == 631 and dotted(srv.target) == "printer.local"
    assert m.records[2].txt == (b"ty=HP", b"pdl=x")
    assert m.records[3].address == "192.0.2.7"


def test_dnswire_follows_backward_compression_pointer() -> None:
    # "local" at offset 12, then "a" + pointer to 12 at offset 19.
    data = bytes(12) + b"\x05local\x00" + b"\x01a\xc0\x0c"
    assert read_name(data, 19) == (("a", "local"), 23)


def test_dnswire_reads_question_with_unicast_bit() -> None:
    # RFC 6762 §5.4: the top bit of qclass asks for a unicast response
    data = bytes.fromhex("000000000001000000000000") + b"\x02tv\x05local\x00" + b"\x00\x01\x80\x01"
    m = parse_message(data)
    assert m.questions[0].name == ("tv", "local")
    assert m.questions[0].unicast_response and m.questions[0].qclass == 1


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        # header of 11 bytes: shorter than the 12-byte DNS header
        ("0000000000010000000000", "dns_short_header"),
        # one question whose name is a pointer to itself (offset 12): a loop
        ("000000000001000000000000c00c00010001", "dns_pointer_forward"),
        # pointer to a later offset (0x20) than the pointer itself: forward, refused
        ("000000000001000000000000c02000010001" + "00" * 20, "dns_pointer_forward"),
        # label of length 10 but only 3 bytes follow
        ("0000000000010000000000000a616263", "dns_name_truncated"),
        # label type 0x40 (extended label, RFC 6891 obsolete): not supported
        ("000000000001000000000000410000010001", "dns_label_type"),
        # answer record whose rdlength (0x00ff) runs past the end of the message
        (
            "000084000000000100000000" + "00" + "00010001" + "00000078" + "00ff" + "c0a8",
            "dns_rdata_truncated",
        ),
    ],
)
def test_dnswire_rejects_malformed_messages(hex_data: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_message(bytes.fromhex(hex_data))
    assert info.value.reason == reason


def test_dnswire_rejects_name_over_255_octets() -> None:
    data = (
        bytes.fromhex("000000000001000000000000")
        + (b"\x3f" + b"a" * 63) * 5
        + b"\x00"
        + b"\x00\x01\x00\x01"
    )
    with pytest.raises(DecodeError) as info:
        parse_message(data)
    assert info.value.reason == "dns_name_too_long"


def test_dnswire_keeps_records_before_a_broken_one() -> None:
    good = DNSRR(rrname="tv.local", type="A", rdata="192.0.2.9")
    # ancount 2: one good record, then 3 stray bytes where the second should be
    data = bytes(DNS(qr=1, qd=[], an=[good]))
    data = data[:7] + b"\x02" + data[8:] + b"\x02ab"
    m = parse_message(data)
    assert [r.address for r in m.records] == ["192.0.2.9"]
    assert m.error == "dns_name_truncated"


def test_dnswire_caps_records_read() -> None:
    an = [DNSRR(rrname="a.local", type="A", rdata="192.0.2.1") for _ in range(10)]
    m = parse_message(bytes(DNS(qr=1, qd=[], an=an)), max_records=4)
    assert len(m.records) == 4


def test_dnswire_shared_suffixes_decode_the_same_through_pointers() -> None:
    # question "a.local" at 12 ("local" at 14); answer owner = pointer to 12;
    # PTR rdata = "b" + pointer to 14 ("local"); a second answer owned by pointer to 14.
    question = b"\x01a\x05local\x00" + b"\x00\x0c\x00\x01"
    ptr = b"\xc0\x0c" + b"\x00\x0c\x00\x01" + b"\x00\x00\x00\x78" + b"\x00\x04" + b"\x01b\xc0\x0e"
    a = (
        b"\xc0\x0e"
        + b"\x00\x01\x00\x01"
        + b"\x00\x00\x00\x78"
        + b"\x00\x04"
        + bytes([192, 0, 2, 5])
    )
    data = bytes.fromhex("000084000001000200000000") + question + ptr + a
    m = parse_message(data)
    assert m.error is None
    assert m.questions[0].name == ("a", "local")
    assert m.records[0].name == ("a", "local") and m.records[0].target == ("b", "local")
    assert m.records[1].name == ("local",) and m.records[1].address == "192.0.2.5"
