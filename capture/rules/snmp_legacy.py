"""snmp-v1-v2: a device answers SNMP v1 or v2c (community-based, RFC 1157 / RFC 1901).

Input: `snmp` observations: `version` ("1", "2c", "3"), `pdu`, `community_default`. Output:
the per-device recommendation "Remove insecure administration protocols SNMP v1 and SNMP v2":
unhealthy when the device answers (response PDU) or sends traps in v1/v2c; healthy when it
answers SNMPv3 and has not answered v1/v2c for detect.repeat_window_s. The evidence says
whether the community was a default one; the community itself (even hashed) is never kept.
"""

from __future__ import annotations

from capture.device import DeviceRecord
from capture.findings import Severity, Status
from capture.observation import Observation, Role
from capture.rules.engine import Rule, RuleEngine, device_key_of, flow_evidence
from capture.rules.store import FindingStore, RecommendationSpec
from capture.rules.windows import SourceTable
from firmware.config import DetectConfig

SPEC = RecommendationSpec(
    rule_id="snmp-v1-v2",
    title="Remove insecure administration protocols SNMP v1 and SNMP v2",
    severity=Severity.MEDIUM,
)
LEGACY_VERSIONS = frozenset(("1", "2c"))
# PDUs only an agent sends: answers, and notifications (RFC 3416 §3).
_AGENT_PDUS = frozenset(("response", "trap", "trapv2", "snmpv2-trap", "report"))


def is_agent_message(obs: Observation) -> bool:
    pdu = obs.fact("pdu")
    return obs.role is Role.SERVER or (isinstance(pdu, str) and pdu in _AGENT_PDUS)


class SnmpLegacy(Rule):
    wants_observations = True

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        self._last_legacy_at: SourceTable[str, float] = SourceTable(config.sources_tracked_max)

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        if obs.protocol != "snmp" or not is_agent_message(obs):
            return
        version = obs.fact("version")
        key = device_key_of(obs, device)
        if key is None or not isinstance(version, str):
            return
        evidence = flow_evidence(obs)
        evidence["version"] = version
        evidence["pdu"] = obs.fact("pdu")
        if version in LEGACY_VERSIONS:
            default = obs.fact("community_default")
            evidence["community_default"] = default if isinstance(default, bool) else None
            self._last_legacy_at.setdefault(key, lambda: obs.at)
            self._set_last(key, obs.at)
            self.store.recommend(SPEC, key, Status.UNHEALTHY, obs.at, evidence)
        elif version == "3":
            last = self._last_legacy_at.peek(key)
            if last is None or obs.at - last > self.config.repeat_window_s:
                self.store.recommend(SPEC, key, Status.HEALTHY, obs.at, evidence)

    def _set_last(self, key: str, at: float) -> None:
        last = self._last_legacy_at.peek(key)
        if last is None or at > last:
            self._last_legacy_at.pop(key)
            self._last_legacy_at.setdefault(key, lambda: at)

    def limits(self) -> dict[str, int]:
        return {"snmp_agents": self._last_legacy_at.dropped}


RULES = (SnmpLegacy,)
