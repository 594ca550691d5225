"""Enrolment of a headless sensor: token + Ed25519 key + CSR in, certificate out.

Request, on `branchwatch/<site>/enrol.<sensor_id>/enrol` (what `branchwatch provision --token`
writes to enrol.json): a JSON object `{"token", "public_key", "csr"}`, the public key as
base64 (or hex) of the raw 32 bytes, the CSR in PEM. Reply, on
`branchwatch/<site>/enrol.<sensor_id>/enrol/reply`: `{"status": "enrolled", "sensor_id", "key_id",
"certificate", "ca"}` or `{"status": "refused", "reason"}`.

The CSR is checked before the token is burned (a bad CSR leaves the token usable); the token
is single-use and expires (registry.py); the certificate's CN is the sensor id of the topic,
whatever the CSR asked for, so the broker ACL binds the sensor to its own topics. The reply
carries no secret: the private keys never leave the sensor.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging

from collector.ca import CertificateAuthority, cert_pem
from collector.errors import RegistryError
from collector.registry import redeem_token
from collector.store import Store
from uplink.batch import TopicKind, parse_topic, topic
from uplink.errors import WireError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024
REPLY_SUFFIX = "/reply"


ENROL_PREFIX = "enrol."


def enrol_identity(sensor_id: str) -> str:
    """The MQTT identity (certificate CN) of a sensor's enrolment bundle: `enrol.<id>`.

    The broker ACL binds every topic to the CN (`branchwatch/+/%u/...`), so this identity can
    only publish on `branchwatch/<site>/enrol.<id>/enrol` and read `.../enrol/reply`: topics
    of a pseudo-sensor that has no key, never the sensor's own batches or commands.
    """
    return ENROL_PREFIX + sensor_id


def reply_topic(site: str, sensor_id: str) -> str:
    """Where the reply goes: under the enrolment identity, which is who asked."""
    return topic(site, enrol_identity(sensor_id), TopicKind.ENROL) + REPLY_SUFFIX


def parse_public_key(value: object) -> bytes:
    """A raw 32-byte Ed25519 public key from hex (64 digits) or base64 text."""
    if not isinstance(value, str):
        raise RegistryError("public_key must be a string")
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise RegistryError("public_key is neither hex nor base64") from exc
    if len(raw) != 32:
        raise RegistryError("public_key is not 32 bytes")
    return raw


class Enrolment:
    """Handles enrolment requests for one store and CA."""

    def __init__(self, store: Store, ca: CertificateAuthority) -> None:
        self.store = store
        self.ca = ca
        self.enrolled = 0
        self.refused = 0

    def handle(self, request_topic: str, payload: bytes, now: float) -> tuple[str, bytes] | None:
        """The (reply topic, reply) for a request, or None when the topic is not an enrol topic."""
        try:
            site, sensor_id, kind = parse_topic(request_topic)
        except WireError:
            return None
        if kind is not TopicKind.ENROL:
            return None
        if not sensor_id.startswith(ENROL_PREFIX):
            # Only the enrolment identity publishes requests (a sensor's own certificate
            # cannot, by the ACL); refuse anything else without burning a token.
            self.refused += 1
            log.warning("enrolment request on %s not from an enrolment identity", request_topic)
            return None
        sensor_id = sensor_id[len(ENROL_PREFIX) :]
        try:
            body = self._enrol(site, sensor_id, payload, now)
            self.enrolled += 1
            log.info("sensor %s/%s enrolled", site, sensor_id)
        except RegistryError as exc:
            self.refused += 1
            log.warning("enrolment of %s/%s refused: %s", site, sensor_id, exc)
            body = {"status": "refused", "reason": str(exc)}
        return reply_topic(site, sensor_id), json.dumps(body, sort_keys=True).encode()

    def _enrol(self, site: str, sensor_id: str, payload: bytes, now: float) -> dict[str, str]:
        if len(payload) > MAX_REQUEST_BYTES:
            raise RegistryError("enrolment request too large")
        try:
            request = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RegistryError("enrolment request is not JSON") from exc
        if not isinstance(request, dict) or set(request) != {"token", "public_key", "csr"}:
            raise RegistryError("enrolment request needs exactly token, public_key, csr")
        token, csr = request["token"], request["csr"]
        if not isinstance(token, str) or not isinstance(csr, str):
            raise RegistryError("token and csr must be strings")
        public_key = parse_public_key(request["public_key"])
        certificate = self.ca.sign_csr(csr.encode(), sensor_id)  # checks the CSR first
        key_id = redeem_token(self.store, site, sensor_id, token, public_key, now=now)
        return {
            "status": "enrolled",
            "sensor_id": sensor_id,
            "key_id": key_id,
            "certificate": certificate.decode(),
            "ca": cert_pem(self.ca.cert).decode(),
        }
