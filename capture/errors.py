"""Errors raised by the capture package."""


class CaptureError(Exception):
    """Base class of every error raised by capture/."""


class DecodeError(CaptureError, ValueError):
    """A packet or a field in it is malformed. The only error an extractor may raise.

    `reason` is a short stable token (it becomes a key of the weird counters), never text
    taken from the packet.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class CaptureFileError(CaptureError, OSError):
    """A capture file is unreadable or corrupt at `offset` (bytes from the start)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte offset {offset}")
        self.offset = offset


class CapturePermissionError(CaptureError, PermissionError):
    """Live capture was refused: the process lacks CAP_NET_RAW."""
