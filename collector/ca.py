"""The collector's certificate authority: signs sensors' TLS CSRs, issues broker/collector certs.

The broker (collector/mosquitto/mosquitto.conf) trusts this CA and takes the client
certificate's CN as the MQTT username, which the ACL turns into topic rights: so the CN of a
sensor certificate is always its sensor id, whatever the CSR asked for.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector.errors import RegistryError

CLIENT_DAYS = 825
CA_DAYS = 3650


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Branchwatch"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_csr(common_name: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A CSR as a sensor makes it at enrolment (tests and tools)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(common_name))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(
        cls, name: str = "Branchwatch collector CA", *, now: datetime.datetime | None = None
    ) -> CertificateAuthority:
        now = now or datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, key_file: str | Path, cert_file: str | Path) -> CertificateAuthority:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RegistryError(f"{key_file}: not an EC private key")
        return cls(key, x509.load_pem_x509_certificate(Path(cert_file).read_bytes()))

    def save(self, key_file: str | Path, cert_file: str | Path) -> None:
        Path(key_file).write_bytes(key_pem(self.key))
        Path(key_file).chmod(0o600)
        Path(cert_file).write_bytes(cert_pem(self.cert))

    def sign_csr(self, csr_pem: bytes, common_name: str, *, days: int = CLIENT_DAYS) -> bytes:
        """A client certificate for `common_name` (the CSR's own subject is ignored).

        Raises:
            RegistryError: the CSR does not parse or its self-signature is wrong.
        """
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise RegistryError(f"bad CSR: {exc}") from exc
        if not csr.is_signature_valid:
            raise RegistryError("bad CSR: signature does not verify")
        return cert_pem(self._issue(common_name, csr.public_key(), server=False, days=days))

    def issue(
        self, common_name: str, *, server: bool = False, days: int = CLIENT_DAYS
    ) -> tuple[bytes, bytes]:
        """A new key and certificate (PEM) for a broker (server=True) or a collector/client."""
        key = ec.generate_private_key(ec.SECP256R1())
        return key_pem(key), cert_pem(
            self._issue(common_name, key.public_key(), server=server, days=days)
        )

    def _issue(
        self, common_name: str, public_key: object, *, server: bool, days: int
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            loopback = ipaddress.ip_address("127.0.0.1")
            names: list[x509.GeneralName] = [x509.IPAddress(loopback)]
            try:
                # A broker sensors reach by address: TLS checks an address against IP SANs only.
                address = ipaddress.ip_address(common_name)
            except ValueError:
                names.insert(0, x509.DNSName(common_name))
            else:
                if address != loopback:
                    names.insert(0, x509.IPAddress(address))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256())
