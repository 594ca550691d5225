"""Errors raised by the uplink package (wire contract, buffer, publisher, forwarder).

Every wire error carries a short stable `reason` token: the collector counts rejections by it
(`rejected[reason]`) and puts it in the ack it sends back, so these tokens are public names.
"""

from __future__ import annotations


class UplinkError(Exception):
    """Base class of every error raised by uplink/."""


class WireError(UplinkError, ValueError):
    """Bytes received from the other side are not acceptable. `reason` is a stable token."""

    reason = "malformed"

    def __init__(self, detail: str = "", *, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)
        self.detail = detail


class BatchTooLargeError(WireError):
    """The encoded batch exceeds the size limit (checked before anything else)."""

    reason = "oversized"


class FramingError(WireError):
    """Magic, version, flags, lengths or trailing bytes of a frame are wrong."""

    reason = "malformed"


class UnsupportedVersionError(FramingError):
    """The frame's format version is not one this code reads."""

    reason = "unsupported_version"


class UnknownKeyError(WireError):
    """No public key is known for the frame's (sensor_id, key_id)."""

    reason = "unknown_key"


class SignatureError(WireError):
    """The Ed25519 signature does not verify over the exact bytes received."""

    reason = "bad_signature"


class SchemaError(WireError):
    """The signed payload does not decompress or does not match the item schema."""

    reason = "schema"


class IdentityMismatchError(WireError):
    """The frame names another sensor / key / epoch than the topic or the receiver expects."""

    reason = "identity_mismatch"


class ReplayError(WireError):
    """A command counter (or batch sequence) is not newer than the last one accepted."""

    reason = "replay"


class BufferStoreError(UplinkError):
    """Base of buffer failures (named so as not to shadow the builtin BufferError)."""


class BufferFullError(BufferStoreError, OSError):
    """The byte budget cannot hold the record even after evicting every sealed batch."""


class BufferCorruptError(BufferStoreError, OSError):
    """A buffer file is unreadable; the file is quarantined, start-up goes on."""


class BrokerUnavailableError(UplinkError, ConnectionError):
    """The MQTT broker cannot be reached or refused the connection."""
