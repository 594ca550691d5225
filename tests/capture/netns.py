"""Two network namespaces joined by a veth pair, for live-capture tests and the live benchmark.

Everything sent here stays inside namespaces this module creates and deletes: the host's own
interfaces never see a packet.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class VethPair:
    """Namespace `sender_ns` holds `sender_if`; namespace `capture_ns` holds `capture_if`."""

    sender_ns: str
    sender_if: str
    capture_ns: str
    capture_if: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextmanager
def veth_pair() -> Iterator[VethPair]:
    """Create two namespaces joined by a veth pair (both ends up, no addresses); delete after."""
    token = secrets.token_hex(3)
    pair = VethPair(f"bw-snd-{token}", f"bws{token}", f"bw-cap-{token}", f"bwc{token}")
    created: list[str] = []
    try:
        for ns in (pair.sender_ns, pair.capture_ns):
            _ip("netns", "add", ns)
            created.append(ns)
        _ip(
            "link", "add", pair.sender_if, "netns", pair.sender_ns, "type", "veth",
            "peer", "name", pair.capture_if, "netns", pair.capture_ns,
        )  # fmt: skip
        for ns in (pair.sender_ns, pair.capture_ns):
            # No IPv6 autoconfiguration chatter (router/neighbour solicitations, MLD).
            subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
                check=False,
                capture_output=True,
                timeout=10,
            )
        _ip("-n", pair.sender_ns, "link", "set", pair.sender_if, "up")
        _ip("-n", pair.capture_ns, "link", "set", pair.capture_if, "up")
        yield pair
    finally:
        for ns in created:  # deleting a namespace deletes its end of the veth, and so the pair
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)


def run_in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a new thread that has entered namespace `ns`; return its result.

    setns() moves only the calling thread, so the test's own thread stays where it is; a socket
    created by `fn` stays in `ns` for its whole life, whichever thread uses it later.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{ns}")
    thread.start()
    thread.join(timeout=30)
    if error:
        raise error[0]
    return result[0]


def send_frames(ns: str, interface: str, frames: list[bytes]) -> None:
    """Transmit raw Ethernet frames on `interface` inside namespace `ns`."""

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
            sock.bind((interface, 0))
            for frame in frames:
                sock.send(frame)

    run_in_netns(ns, send)
