"""telnet-enabled: a device serves Telnet (recognised by IAC negotiation or banner, any port).

Input: `telnet` server observations (docs/observations.md) and, on the count-only path, TCP
resets. Output: the per-device recommendation "Disable insecure administration protocol –
Telnet": unhealthy when a Telnet server is observed; healthy when every port it served Telnet
on has since answered a connection attempt with a reset (RFC 9293 §3.5.2: a closed port
answers a SYN with RST/ACK and sequence number 0).
"""

from __future__ import annotations

from capture.device import DeviceRecord
from capture.findings import Severity, Status
from capture.frame import IPPROTO_TCP, TCP_ACK, TCP_RST
from capture.observation import Observation, Role
from capture.rules.engine import Packet, Rule, RuleEngine, device_key_of, flow_evidence, flow_of
from capture.rules.store import FindingStore, RecommendationSpec
from capture.rules.windows import SourceTable
from firmware.config import DetectConfig

SPEC = RecommendationSpec(
    rule_id="telnet-enabled",
    title="Disable insecure administration protocol – Telnet",
    severity=Severity.HIGH,
)
_PORTS_PER_DEVICE_MAX = 8


def is_telnet_server(obs: Observation) -> bool:
    """A server-side Telnet observation that carries protocol evidence (IAC options or text)."""
    if obs.protocol != "telnet" or obs.role is not Role.SERVER:
        return False
    return bool(
        obs.fact("options")
        or obs.fact("text")
        or obs.fact("login_prompt")
        or obs.fact("password_prompt")
        or obs.fact("shell_prompt")
    )


class TelnetExposed(Rule):
    frame_kinds = frozenset(("ip",))
    wants_observations = True

    def __init__(self, config: DetectConfig, store: FindingStore, engine: RuleEngine) -> None:
        super().__init__(config, store, engine)
        # (vlan, server ip, port) -> device key; device key -> Telnet ports still open.
        self._services: SourceTable[tuple[int | None, str, int], str] = SourceTable(
            config.sources_tracked_max
        )
        self._open_ports: SourceTable[str, set[int]] = SourceTable(config.sources_tracked_max)

    def on_observation(self, obs: Observation, device: DeviceRecord | None) -> None:
        if not is_telnet_server(obs):
            return
        key = device_key_of(obs, device)
        if key is None:
            return
        evidence = flow_evidence(obs)
        flow = obs.flow
        if flow is not None and flow.src_ip is not None and flow.src_port is not None:
            evidence["port"] = flow.src_port
            self._services.setdefault((obs.vlan, flow.src_ip, flow.src_port), lambda: key)
            ports = self._open_ports.setdefault(key, set)
            if len(ports) < _PORTS_PER_DEVICE_MAX:
                ports.add(flow.src_port)
        self.store.recommend(SPEC, key, Status.UNHEALTHY, obs.at, evidence)

    def on_frame(self, packet: Packet) -> None:
        frame = packet.frame
        if frame.ip_proto != IPPROTO_TCP or frame.src_ip is None or frame.src_port is None:
            return
        if frame.tcp_flags != TCP_RST | TCP_ACK or frame.tcp_seq != 0:
            return  # not the answer of a closed port to a SYN
        key = self._services.peek((frame.vlan, frame.src_ip, frame.src_port))
        if key is None:
            return
        ports = self._open_ports.peek(key)
        if ports is not None:
            ports.discard(frame.src_port)
            if ports:
                return
        evidence = {
            "at": frame.at,
            "flow": str(flow_of(frame)),
            "port": frame.src_port,
            "reason": "Telnet port closed (TCP reset to a connection attempt)",
        }
        self.store.recommend(SPEC, key, Status.HEALTHY, frame.at, evidence)

    def limits(self) -> dict[str, int]:
        return {"telnet_services": self._services.dropped + self._open_ports.dropped}


RULES = (TelnetExposed,)
