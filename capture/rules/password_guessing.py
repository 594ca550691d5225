"""password-guessing: repeated failed logins on Telnet and VNC, SNMP community guessing.

Input: `telnet` server observations with `auth_failed`, `rfb` server observations with
`auth_result` "failed", and `snmp` requests and responses with `community_hash`. Output: the
alert "Password guessing" (ATT&CK T1110 Brute Force) when one client reaches
detect.password_guess_failures failures against one server within detect.password_guess_window_s.

SNMP agents do not answer a request with a wrong community (RFC 1157 §4.1, RFC 3584 §5.2.1:
the message is discarded and snmpInBadCommunityNames counted), so what a passive sensor can see
is a manager sending requests with many distinct communities that get no answer. A community is
counted when a request carries it and removed when the agent answers with it; the alert fires
when the distinct unanswered communities from one manager to one agent reach the threshold.
authenticationFailure traps are not used: the extractor does not report the trap OID.

Telnet and VNC failures count once per session (client port): the extractors report a
session's failure flag, not each attempt, and repeat it on later observations of the session.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from capture.device import DeviceRecord
from capture.findings import Severity
from capture.observation import Observation, Role
from capture.rules.engine import Rule, RuleEngine, device_key_of
from capture.rules.snmp_legacy import LEGACY_VERSIONS
from capture.rules.store import AlertSpec, FindingStore
from capture.rules.windows import DistinctWindow, FailureWindow, SourceTable
from firmware.config import DetectConfig

_SESSIONS_KEPT = 32
SPEC = AlertSpec(
    rule_id="password-guessing",
    title="Password guessing",
    severity=Severity.HIGH,
    attack_technique="T1110",
)


@dataclass(slots=True)
class _Attempts:
    failures: FailureWindow
    communities: DistinctWindow | None = None
    total: int = 0
    alerting: bool = False
    first_at: float = 0.0
    first_flow: str = ""
    # Client ports of the sessions already counted: the extractors repeat a session's
    # auth_failed flag on later observations of it (text growth, FIN), one failure per session.
    sessions: deque[int | None] = field(default_factory=lambda: deque(maxlen=_SESSIONS_KEPT))


class PasswordGuessing(Rule):
    wants_observations = True

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        # (vlan, client ip, server ip, service) -> failures in the window.
        self._pairs: SourceTable[tuple[int | None, str, str, str], _Attempts] = SourceTable(
            config.sources_tracked_max
        )

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        if obs.protocol == "telnet" and obs.role is Role.SERVER:
            if obs.fact("auth_failed") is True:
                self._failure(obs, device, "telnet")
        elif obs.protocol == "rfb" and obs.role is Role.SERVER:
            if obs.fact("auth_result") == "failed":
                self._failure(obs, device, "vnc")
        elif obs.protocol == "snmp":
            self._snmp(obs, device)

    def _failure(self, obs: Observation, device: DeviceRecord | None, service: str) -> None:
        flow = obs.flow
        if flow is None or flow.src_ip is None or flow.dst_ip is None:
            return
        attempts = self._attempts(obs.vlan, flow.dst_ip, flow.src_ip, service, obs)
        if flow.dst_port in attempts.sessions:
            return
        attempts.sessions.append(flow.dst_port)
        attempts.total += 1
        if attempts.failures.add(obs.at):
            self._raise(
                obs, device, attempts, service, server_ip=flow.src_ip, client_ip=flow.dst_ip
            )
        else:
            attempts.alerting = False

    def _snmp(self, obs: Observation, device: DeviceRecord | None) -> None:
        flow, community = obs.flow, obs.fact("community_hash")
        version = obs.fact("version")
        if flow is None or flow.src_ip is None or flow.dst_ip is None:
            return
        if not isinstance(community, str) or version not in LEGACY_VERSIONS:
            return
        if obs.role is Role.SERVER:  # the agent answered: that community is right
            known = self._pairs.peek((obs.vlan, flow.dst_ip, flow.src_ip, "snmp"))
            if known is not None and known.communities is not None:
                known.communities.discard(community)
            return
        if obs.fact("pdu") not in ("get", "getnext", "getbulk", "set"):
            return
        attempts = self._attempts(obs.vlan, flow.src_ip, flow.dst_ip, "snmp", obs)
        if attempts.communities is None:
            cfg = self.config
            attempts.communities = DistinctWindow(
                cfg.password_guess_window_s, 2 * cfg.password_guess_failures
            )
        if not attempts.communities.add(community, obs.at):
            return
        attempts.total += 1
        if len(attempts.communities) >= self.config.password_guess_failures:
            self._raise(obs, None, attempts, "snmp", server_ip=flow.dst_ip, client_ip=flow.src_ip)
        else:
            attempts.alerting = False

    def _attempts(
        self, vlan: int | None, client: str, server: str, service: str, obs: Observation
    ) -> _Attempts:
        cfg = self.config
        return self._pairs.setdefault(
            (vlan, client, server, service),
            lambda: _Attempts(
                FailureWindow(cfg.password_guess_failures, cfg.password_guess_window_s),
                first_at=obs.at,
                first_flow=str(obs.flow),
            ),
        )

    def _raise(
        self,
        obs: Observation,
        server_device: DeviceRecord | None,
        attempts: _Attempts,
        service: str,
        *,
        server_ip: str,
        client_ip: str,
    ) -> None:
        count = 1 if attempts.alerting else attempts.total
        attempts.alerting = True
        client_key = self.engine.key_for_ip(obs.vlan, client_ip)
        if server_device is not None:
            server_key = server_device.key
        elif obs.role is Role.SERVER:
            server_key = device_key_of(obs, None) or self.engine.key_for_ip(obs.vlan, server_ip)
        else:
            server_key = self.engine.key_for_ip(obs.vlan, server_ip)
        evidence = {
            "service": service,
            "client_ip": client_ip,
            "server_ip": server_ip,
            "failures": attempts.total,
            "threshold": self.config.password_guess_failures,
            "window_s": self.config.password_guess_window_s,
            "first_flow": attempts.first_flow,
            "first_at": attempts.first_at,
            "last_flow": str(obs.flow),
            "last_at": obs.at,
        }
        if service == "snmp":
            evidence["failure_signal"] = "distinct unanswered communities"
        self.store.alert(
            SPEC,
            client_key,
            [server_key],
            obs.at,
            evidence,
            count=count,
            scope=f"{server_key}|{service}",
        )

    def limits(self) -> dict[str, int]:
        return {"password_guess_pairs": self._pairs.dropped}


RULES = (PasswordGuessing,)
