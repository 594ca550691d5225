"""sd_notify: READY / STOPPING / WATCHDOG / STATUS to systemd; a no-op outside systemd.

The protocol is one datagram of "KEY=value" lines to the AF_UNIX socket named in
$NOTIFY_SOCKET (an abstract socket when it starts with "@"), as sd_notify(3) documents.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends service notifications to systemd. Does nothing when $NOTIFY_SOCKET is unset."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_for_us = not pid or pid == str(os.getpid())
        self.watchdog_interval_s: float | None = (
            int(usec) / 1e6 if usec.isdigit() and watchdog_for_us else None
        )

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def watchdog(self) -> None:
        """Ping the watchdog. Call only while every worker reports progress."""
        self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def _send(self, message: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self._address, exc)
