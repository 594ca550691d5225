"""Issuer and subject of an X.509 certificate read from its first bytes (RFC 5280 §4.1, DER).

A live sensor's kernel filter admits only the first TCP segment of a TLS server's flight
(capture/bpf.py), so the leaf certificate usually arrives cut. Its issuer and subject sit
early in TBSCertificate (after the version, serial number and signature algorithm; the subject
after the validity), so they can be read from what arrived, where `cryptography` needs the
whole certificate.

The strings are RFC 4514 distinguished names written as `cryptography`'s
Name.rfc4514_string() writes them, so the same fingerprint rules match both: the most
specific RDN first, multi-valued RDNs joined by "+", the attribute type short names of
RFC 4514 §3 (CN, L, ST, O, OU, C, STREET, DC, UID) and dotted OIDs for the others, values
escaped as RFC 4514 §2.4 says. tests/capture/extractors/test_dername.py checks the equality on
whole certificates of many shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.errors import DecodeError
from capture.extractors.snmp import decode_oid

TAG_SEQUENCE = 0x30
TAG_SET = 0x31
TAG_INTEGER = 0x02
TAG_OID = 0x06
TAG_BIT_STRING = 0x03
TAG_VERSION = 0xA0  # [0] EXPLICIT Version
NAME_MAX_ATTRIBUTES = 64

# RFC 4514 §3 attribute type short names.
SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
# X.680 string types and how their bytes decode.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (T61String)
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
_ESCAPED = {"\\": "\\\\", '"': '\\"', "+": "\\+", ",": "\\,", ";": "\\;", "<": "\\<", ">": "\\>"}


class _Cut(Exception):
    """The element runs past the bytes that arrived."""


@dataclass(frozen=True, slots=True)
class CertificateNames:
    """What a certificate's first bytes told: None where they stop before the field ends."""

    issuer: str | None = None
    subject: str | None = None
    self_signed: bool | None = None


def _element(buf: bytes, off: int, *, need_content: bool = True) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `off`.

    Raises:
        _Cut: the header, or (with need_content) the content, is not all in `buf`.
        DecodeError: not DER (indefinite or over-long length).
    """
    if off + 2 > len(buf):
        raise _Cut
    tag, first = buf[off], buf[off + 1]
    start = off + 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DecodeError("x509_der_length")
        if start + count > len(buf):
            raise _Cut
        length = int.from_bytes(buf[start : start + count], "big")
        start += count
    else:
        length = first
    end = start + length
    if need_content and end > len(buf):
        raise _Cut
    return tag, start, end


def _expect(
    buf: bytes, off: int, tag: int, *, need_content: bool = True, limit: int | None = None
) -> tuple[int, int]:
    """Content bounds of the element at `off`, which must have `tag` and end by `limit`."""
    if limit is not None and off >= limit:
        raise DecodeError("x509_der_structure")  # the enclosing element ended before it
    try:
        got, start, end = _element(buf, off, need_content=need_content)
    except _Cut:
        if limit is not None and limit <= len(buf):
            raise DecodeError("x509_der_structure") from None  # past an end that arrived
        raise
    if got != tag or (limit is not None and end > limit):
        raise DecodeError("x509_der_structure")
    return start, end


def oid_text(data: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's content bytes (X.690 §8.19)."""
    return decode_oid(data, "x509_der_oid")


def escape_value(value: str) -> str:
    """An attribute value escaped as RFC 4514 §2.4 requires."""
    if not value:
        return ""
    out = "".join(_ESCAPED.get(ch, ch) for ch in value).replace("\0", "\\00")
    if out[0] in "# ":
        out = "\\" + out
    if value[-1] == " " and len(value) > 1:  # a lone space is escaped once, as leading
        out = out[:-1] + "\\ "
    return out


def _attribute(buf: bytes, start: int, end: int) -> str:
    oid_start, oid_end = _expect(buf, start, TAG_OID)
    oid = oid_text(buf[oid_start:oid_end])
    tag, v_start, v_end = _element(buf, oid_end)
    if v_end > end:
        raise DecodeError("x509_der_structure")
    raw = buf[v_start:v_end]
    codec = _STRING_CODECS.get(tag)
    if codec is not None:
        try:
            text = escape_value(raw.decode(codec))
        except UnicodeDecodeError as exc:
            raise DecodeError("x509_der_string") from exc
    elif tag == TAG_BIT_STRING and raw:
        text = "#" + raw[1:].hex()  # X500UniqueIdentifier: the bits, without the unused count
    else:
        raise DecodeError("x509_der_value_type")
    return f"{SHORT_NAMES.get(oid, oid)}={text}"


def name_text(buf: bytes, start: int, end: int) -> str:
    """RFC 4514 string of the Name whose SEQUENCE content is buf[start:end]."""
    return ",".join("+".join(rdn) for rdn in reversed(_name_rdns(buf, start, end)))


def _name_rdns(buf: bytes, start: int, end: int) -> list[list[str]]:
    """The Name's RDNs in DER order, each as its "type=value" attributes."""
    rdns: list[list[str]] = []
    off = start
    count = 0
    while off < end:
        set_start, set_end = _expect(buf, off, TAG_SET)
        attributes = []
        inner = set_start
        while inner < set_end:
            seq_start, seq_end = _expect(buf, inner, TAG_SEQUENCE)
            count += 1
            if count > NAME_MAX_ATTRIBUTES or seq_end > set_end:
                raise DecodeError("x509_der_structure")
            attributes.append(_attribute(buf, seq_start, seq_end))
            inner = seq_end
        rdns.append(attributes)
        off = set_end
    return rdns


def _same_name(a: list[list[str]], b: list[list[str]]) -> bool:
    """Names equal as X.501 compares them here: RDN by RDN, attributes in any order, values
    by their text (a BMPString and a UTF8String of the same text are the same value)."""
    return [frozenset(r) for r in a] == [frozenset(r) for r in b]


def certificate_names(der: bytes) -> CertificateNames:
    """Issuer, subject and self-signedness from a certificate's first bytes (or all of them).

    Raises:
        DecodeError: the bytes that arrived are not the start of a DER certificate.
    """
    try:
        off, cert_end = _expect(der, 0, TAG_SEQUENCE, need_content=False)  # Certificate
        off, tbs = _expect(der, off, TAG_SEQUENCE, need_content=False, limit=cert_end)
        if off < len(der) and der[off] == TAG_VERSION:
            off = _expect(der, off, TAG_VERSION, limit=tbs)[1]
        off = _expect(der, off, TAG_INTEGER, limit=tbs)[1]  # serialNumber
        off = _expect(der, off, TAG_SEQUENCE, limit=tbs)[1]  # signature AlgorithmIdentifier
        issuer_start, issuer_end = _expect(der, off, TAG_SEQUENCE, limit=tbs)
    except _Cut:
        return CertificateNames()
    issuer = _name_rdns(der, issuer_start, issuer_end)
    issuer_text = ",".join("+".join(rdn) for rdn in reversed(issuer))
    try:
        off = _expect(der, issuer_end, TAG_SEQUENCE, limit=tbs)[1]  # validity
        subject_start, subject_end = _expect(der, off, TAG_SEQUENCE, limit=tbs)
    except _Cut:
        return CertificateNames(issuer=issuer_text)
    subject = _name_rdns(der, subject_start, subject_end)
    subject_text = ",".join("+".join(rdn) for rdn in reversed(subject))
    return CertificateNames(issuer_text, subject_text, _same_name(issuer, subject))
