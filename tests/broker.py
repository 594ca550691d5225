"""A real Mosquitto for tests: generated config on 127.0.0.1 and a free port.

`mosquitto` (session scope) is shared by every test that only needs a broker; tests that stop
and restart the broker make their own `Mosquitto(tmp_path)`. Both skip with a reason when
mosquitto is not installed (and fail under CI=true, where .ci/run installs it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(
    directory: Path, client_cn: str = "pi-tls", server_ip: str = "127.0.0.1"
) -> TlsFiles:
    """A test CA, a server certificate for `server_ip` and a client certificate (EC P-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
              signer: ec.EllipticCurvePrivateKey, ca: bool,
              extra: list[x509.ExtensionType]) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )  # fmt: skip
        for ext in extra:
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(signer, hashes.SHA256())

    def save(
        stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
        return cert_path, key_path

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = issue("branchwatch test CA", ca_key, "branchwatch test CA", ca_key, True, [])
    server = issue(server_ip, server_key, "branchwatch test CA", ca_key, False, [
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])])  # fmt: skip
    client = issue(client_cn, client_key, "branchwatch test CA", ca_key, False,
                   [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])])  # fmt: skip
    ca_path, _ = save("ca", ca, ca_key)
    server_cert, server_key_path = save("server", server, server_key)
    client_cert, client_key_path = save("client", client, client_key)
    return TlsFiles(ca_path, server_cert, server_key_path, client_cert, client_key_path)


class Mosquitto:
    """One broker process; start(), stop() and restart() keep the same port.

    With `tls`, a second listener on `tls_port` requires a client certificate from the CA.
    """

    def __init__(self, directory: Path, port: int | None = None, *,
                 tls: TlsFiles | None = None,
                 password: tuple[str, str] | None = None,
                 netns: str | None = None, tls_host: str = "127.0.0.1") -> None:  # fmt: skip
        self.host = "127.0.0.1"
        self.netns = netns  # run inside this network namespace (benchmarks)
        self.port = port or free_port()
        self.tls_port = free_port() if tls else 0
        self.auth_port = free_port() if password else 0
        self.directory = directory
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._drainer: threading.Thread | None = None
        self.config.write_text(
            # Each listener has its own authentication (the plain one stays anonymous).
            "per_listener_settings true\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # Mosquitto drops privileges to `mosquitto` when started as root; stay root so it
            # can read this test-owned directory.
            "user root\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "max_queued_messages 10000\n"
            "max_packet_size 300000\n"
        )
        if tls is not None:
            with self.config.open("a") as f:
                f.write(
                    f"listener {self.tls_port} {tls_host}\n"
                    f"cafile {tls.ca}\ncertfile {tls.server_cert}\nkeyfile {tls.server_key}\n"
                    "require_certificate true\nallow_anonymous true\n"
                )
        if password is not None:
            passwd = directory / "passwd"
            subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), *password], check=True)
            with self.config.open("a") as f:
                f.write(f"listener {self.auth_port} 127.0.0.1\n"
                        f"allow_anonymous false\npassword_file {passwd}\n")  # fmt: skip

    def start(self, timeout_s: float = 10.0) -> None:
        assert MOSQUITTO is not None
        self.proc = subprocess.Popen(
            [
                *(["ip", "netns", "exec", self.netns] if self.netns else []),
                MOSQUITTO,
                "-c",
                str(self.config),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        # Mosquitto logs "mosquitto version X running" once its listeners are open.
        seen = b""
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b" running" not in seen:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.stop()
                    raise RuntimeError(f"mosquitto did not start: {seen.decode(errors='replace')}")
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    self.stop()
                    raise RuntimeError(f"mosquitto exited: {seen.decode(errors='replace')}")
                seen += chunk
        self.log.write_bytes(seen)
        # Keep draining the log, or mosquitto blocks once the pipe is full; ends at EOF.
        self._drainer = threading.Thread(
            target=self._drain, args=(self.proc.stdout,), daemon=True, name="mosquitto-log"
        )
        self._drainer.start()
        if self.netns is None:  # "running" is logged once the listeners are open; check anyway
            with socket.create_connection((self.host, self.port), timeout=timeout_s):
                pass

    def _drain(self, pipe: IO[bytes]) -> None:
        with self.log.open("ab") as out:
            for line in pipe:
                out.write(line)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate, then kill after `timeout_s`. Idempotent."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
        if self._drainer is not None:
            self._drainer.join(timeout_s)  # ends at EOF, now that the broker is gone
            self._drainer = None
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


SHIPPED = Path(__file__).resolve().parents[1] / "collector" / "mosquitto"


def shipped_config(files: Path, port: int) -> str:
    """The shipped broker configuration (collector/mosquitto) on 127.0.0.1:`port`, with its
    certificates (ca.pem, broker.pem, broker.key) read from `files`, the shipped ACL, and no
    persistence; as root it stays root to read test-owned files."""
    conf = (SHIPPED / "mosquitto.conf").read_text()
    conf = conf.replace("listener 8883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/etc/branchwatch-collector/mosquitto.acl", str(SHIPPED / "mosquitto.acl"))
    conf = conf.replace("/etc/branchwatch-collector/", f"{files}/")
    conf = conf.replace("persistence true", "persistence false")
    conf = conf.replace("persistence_location /var/lib/mosquitto/\n", "")
    if os.geteuid() == 0:
        conf += "user root\n"
    return (
        conf
        + "log_dest stderr\n"
        + "".join(f"log_type {kind}\n" for kind in ("error", "warning", "notice", "information"))
    )


def require_mosquitto() -> None:
    from tests.conftest import require  # here: tests.conftest imports this module

    require(MOSQUITTO is not None, "mosquitto is not installed (apt-get install mosquitto)")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker shared by the session: 127.0.0.1, a free port, persistence off."""
    require_mosquitto()
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker
