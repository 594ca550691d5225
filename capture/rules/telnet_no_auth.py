"""telnet-no-auth: a Telnet session reaches a shell or command prompt with no login prompt.

Input: `telnet` server observations: `shell_prompt` (a command prompt with no login/password
prompt before it), `login_prompt`, `password_prompt`. Output: the per-device recommendation
"Require authentication for Telnet management interface": unhealthy on a shell prompt
without authentication; healthy when a later session of the device asks for a login or a
password first.
"""

from __future__ import annotations

from capture.device import DeviceRecord
from capture.findings import Severity, Status
from capture.observation import Observation
from capture.rules.engine import Rule, device_key_of, flow_evidence
from capture.rules.store import RecommendationSpec
from capture.rules.telnet_exposed import is_telnet_server

SPEC = RecommendationSpec(
    rule_id="telnet-no-auth",
    title="Require authentication for Telnet management interface",
    severity=Severity.CRITICAL,
)
_BANNER_MAX = 120


class TelnetNoAuth(Rule):
    wants_observations = True

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        if not is_telnet_server(obs):
            return
        if obs.fact("shell_prompt") is True:
            status = Status.UNHEALTHY
        elif obs.fact("login_prompt") is True or obs.fact("password_prompt") is True:
            status = Status.HEALTHY
        else:
            return
        key = device_key_of(obs, device)
        if key is None:
            return
        evidence = flow_evidence(obs)
        text = obs.fact("text")
        if isinstance(text, str):
            evidence["banner"] = text[:_BANNER_MAX]
        self.store.recommend(SPEC, key, status, obs.at, evidence)


RULES = (TelnetNoAuth,)
