"""sd_notify: datagrams as sd_notify(3) describes them; silent outside systemd."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from firmware.systemd import Notifier


def test_notifier_sends_ready_and_watchdog_datagrams(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
        assert notifier.watchdog_interval_s == 20.0
        notifier.ready("capturing")
        notifier.watchdog()
        notifier.stopping()
        assert server.recv(256) == b"READY=1\nSTATUS=capturing"
        assert server.recv(256) == b"WATCHDOG=1"
        assert server.recv(256) == b"STOPPING=1"


def test_notifier_uses_abstract_socket_for_at_prefix() -> None:
    name = f"bw-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert server.recv(64) == b"READY=1"


def test_notifier_is_silent_outside_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    notifier.ready()  # no socket, no error


def test_watchdog_for_another_pid_is_ignored() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval_s is None
