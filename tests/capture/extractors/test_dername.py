"""Certificate names from a certificate's first bytes: equal to `cryptography`'s RFC 4514 strings
on whole certificates, and never a wrong name from a cut one."""

from __future__ import annotations

import contextlib
import datetime
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.errors import DecodeError
from capture.extractors.dername import CertificateNames, certificate_names, escape_value, oid_text

EMAIL = ObjectIdentifier("1.2.840.113549.1.9.1")
JURISDICTION_C = ObjectIdentifier("1.3.6.1.4.1.311.60.2.1.3")
# Attribute types and the string types cryptography lets them carry.
TEXT_TYPES = [_ASN1Type.UTF8String, _ASN1Type.BMPString, _ASN1Type.UniversalString]
ATTRIBUTES = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.STREET_ADDRESS,
    NameOID.DOMAIN_COMPONENT,
    NameOID.USER_ID,
    NameOID.SERIAL_NUMBER,
    NameOID.TITLE,
]
# Characters RFC 4514 §2.4 escapes, and a few that need no escaping, with non-ASCII text.
VALUES = st.text(
    alphabet=st.sampled_from([*',+"\\<>;#= =abcXYZ019-._', "é", "中", "\u00a0"]),
    min_size=1,
    max_size=24,
)


@cache
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject: x509.Name, issuer: x509.Name, serial: int = 1) -> bytes:
    key = _key()
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@st.composite
def names(draw: st.DrawFn) -> x509.Name:
    rdns = []
    for _ in range(draw(st.integers(1, 4))):
        attributes = []
        oids = draw(st.lists(st.sampled_from(ATTRIBUTES), min_size=1, max_size=2, unique=True))
        for oid in oids:  # a multi-valued RDN holds distinct attributes
            kind = draw(st.sampled_from(TEXT_TYPES))
            attributes.append(x509.NameAttribute(oid, draw(VALUES), _type=kind))
        rdns.append(x509.RelativeDistinguishedName(attributes))
    if draw(st.booleans()):
        rdns.append(
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "NL")])
        )
    if draw(st.booleans()):
        email = x509.NameAttribute(EMAIL, "ops@example.com", _type=_ASN1Type.IA5String)
        rdns.append(x509.RelativeDistinguishedName([email]))
    return x509.Name(rdns)


@settings(max_examples=150, deadline=None)
@given(subject=names(), issuer=names(), serial=st.integers(1, 2**159 - 1))
def test_names_equal_cryptography_on_whole_certificates(
    subject: x509.Name, issuer: x509.Name, serial: int
) -> None:
    der = _certificate(subject, issuer, serial)
    cert = x509.load_der_x509_certificate(der)
    assert certificate_names(der) == CertificateNames(
        cert.issuer.rfc4514_string(), cert.subject.rfc4514_string(), cert.subject == cert.issuer
    )


@settings(max_examples=40, deadline=None)
@given(subject=names(), issuer=names())
def test_a_cut_certificate_gives_the_names_it_holds_and_never_a_wrong_one(
    subject: x509.Name, issuer: x509.Name
) -> None:
    der = _certificate(subject, issuer)
    whole = certificate_names(der)
    seen_issuer = seen_subject = False
    for cut in range(len(der) + 1):
        got = certificate_names(der[:cut])
        assert got.issuer in (None, whole.issuer)
        assert got.subject in (None, whole.subject)
        seen_issuer |= got.issuer is not None
        seen_subject |= got.subject is not None
        # Once a name has been read, every longer prefix reads it too.
        assert not (seen_issuer and got.issuer is None)
        assert not (seen_subject and got.subject is None)
    assert seen_issuer and seen_subject


def test_subject_needs_the_whole_subject_and_self_signed_compares_them() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "FortiGate")])
    der = _certificate(name, name)
    assert certificate_names(der) == CertificateNames("CN=FortiGate", "CN=FortiGate", True)
    # Cut one byte before the subject ends: the issuer only.
    subject_der = name.public_bytes()
    end = der.index(subject_der, der.index(subject_der) + 1) + len(subject_der)
    assert certificate_names(der[: end - 1]) == CertificateNames(issuer="CN=FortiGate")
    assert certificate_names(der[:end]).subject == "CN=FortiGate"


@pytest.mark.parametrize(
    ("value", "escaped"),
    [  # RFC 4514 §2.4
        ("Sonos, Inc", "Sonos\\, Inc"),
        ("a+b", "a\\+b"),
        ('say "hi"', 'say \\"hi\\"'),
        ("#1", "\\#1"),
        (" lead", "\\ lead"),
        ("trail ", "trail\\ "),
        (" ", "\\ "),
        ("x<y>;z\\", "x\\<y\\>\\;z\\\\"),
        ("nul\0", "nul\\00"),
        ("", ""),
    ],
)
def test_escape_value_follows_rfc_4514(value: str, escaped: str) -> None:
    assert escape_value(value) == escaped


@pytest.mark.parametrize(
    ("content", "dotted"),
    [  # X.690 §8.19 examples and the arcs of RFC 4519 / PKCS #9
        (bytes.fromhex("550403"), "2.5.4.3"),
        (bytes.fromhex("2a864886f70d010901"), "1.2.840.113549.1.9.1"),
        (bytes.fromhex("0992268993f22c640119"), "0.9.2342.19200300.100.1.25"),
        (bytes.fromhex("8837"), "2.999"),
    ],
)
def test_oid_text(content: bytes, dotted: str) -> None:
    assert oid_text(content) == dotted


def test_other_attribute_types_are_dotted_oids() -> None:
    name = x509.Name([x509.NameAttribute(JURISDICTION_C, "US")])
    der = _certificate(name, name)
    assert certificate_names(der).subject == "1.3.6.1.4.1.311.60.2.1.3=US"


@pytest.mark.parametrize(
    ("der", "reason"),
    [
        (bytes.fromhex("3080"), "x509_der_length"),  # indefinite length: BER, not DER
        (bytes.fromhex("3003300102"), "x509_der_structure"),  # TBSCertificate too short
        (bytes.fromhex("30053003020101"), "x509_der_structure"),  # it ends after the serial
        (bytes.fromhex("310030003000"), "x509_der_structure"),  # a SET where the SEQUENCE goes
    ],
)
def test_malformed_prefix_raises_decode_error(der: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        certificate_names(der)
    assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        certificate_names(data)
