"""vnc-no-auth: an RFB server offers security type None, or an RFB 3.3 server selects it.

Input: `rfb` server observations: `security_types` (the list a 3.7/3.8 server offers),
`selected_type` (the type an RFB 3.3 server selects, or the client's choice), `version`.
RFC 6143 §7.1.2: security type 1 is None, 2 is VNC Authentication. Output: the per-device
recommendation "Require authentication for VNC management interface": unhealthy when type 1 is
offered or selected; healthy when the server later offers only types other than None (or an
RFB 3.3 server selects VNC Authentication).
"""

from __future__ import annotations

from capture.device import DeviceRecord
from capture.findings import Severity, Status
from capture.observation import Observation, Role
from capture.rules.engine import Rule, device_key_of, flow_evidence
from capture.rules.store import RecommendationSpec

SPEC = RecommendationSpec(
    rule_id="vnc-no-auth",
    title="Require authentication for VNC management interface",
    severity=Severity.CRITICAL,
)
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2


def rfb_status(obs: Observation) -> Status | None:
    """UNHEALTHY when None is offered or selected, HEALTHY when only other types are offered."""
    offered = obs.fact("security_types")
    selected = obs.fact("selected_type")
    if (isinstance(offered, tuple) and SECURITY_NONE in offered) or selected == SECURITY_NONE:
        return Status.UNHEALTHY
    if isinstance(offered, tuple) and offered and 0 not in offered:
        return Status.HEALTHY  # a list without None (0 would mean the server refused)
    version = obs.fact("version")
    if selected == SECURITY_VNC_AUTH and isinstance(version, str) and version == "003.003":
        return Status.HEALTHY
    return None


class VncNoAuth(Rule):
    wants_observations = True

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        if obs.protocol != "rfb" or obs.role is not Role.SERVER:
            return
        status = rfb_status(obs)
        if status is None:
            return
        key = device_key_of(obs, device)
        if key is None:
            return
        evidence = flow_evidence(obs)
        for name in ("version", "security_types", "selected_type"):
            value = obs.fact(name)
            if value is not None:
                evidence[name] = list(value) if isinstance(value, tuple) else value
        self.store.recommend(SPEC, key, status, obs.at, evidence)


RULES = (VncNoAuth,)
