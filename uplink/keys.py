"""Ed25519 keys of the wire contract: key ids, the Signer, signature checks.

Part of the contract (uplink.batch re-exports everything here). cryptography is used here
and in uplink.batch only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from uplink.errors import SignatureError

KEY_ID_BYTES = 8


def key_id_for(public_key: bytes) -> str:
    """Key id: hex of the first 8 bytes of SHA-256 over the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).digest()[:KEY_ID_BYTES].hex()


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


class Signer:
    """An Ed25519 private key with its key id. Never logged, never serialized here."""

    __slots__ = ("_key", "key_id", "public_key_bytes")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key_bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id_for(self.public_key_bytes)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """From the 32-byte RFC 8032 private key (seed)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load(cls, path: str | Path) -> Signer:
        """From a file holding a PKCS#8 PEM key or the raw 32-byte seed."""
        data = Path(path).read_bytes()
        if len(data) == 32:
            return cls.from_seed(data)
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(key)

    def seed(self) -> bytes:
        """The raw 32-byte private key, for writing the key file at provisioning."""
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, signed: bytes) -> None:
    try:
        public_key.verify(signature, signed)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None
