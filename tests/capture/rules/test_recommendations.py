"""The four recommendations: built observations as docs/observations.md defines them."""

from __future__ import annotations

from collections.abc import Callable

from capture.findings import Finding, FindingKind, Status
from capture.observation import FactValue, Observation
from capture.rules.engine import RuleEngine
from tests.capture.rules.packets import TARGET_MAC, client_obs, server_obs, tcp

EngineFactory = Callable[..., RuleEngine]

# Exact titles from the issue (DESIGN.md §3).
TITLES = {
    "telnet-enabled": "Disable insecure administration protocol – Telnet",
    "telnet-no-auth": "Require authentication for Telnet management interface",
    "snmp-v1-v2": "Remove insecure administration protocols SNMP v1 and SNMP v2",
    "vnc-no-auth": "Require authentication for VNC management interface",
}
IAC_OPTIONS = (1, 3, 24, 31)  # ECHO, SGA, TERMINAL-TYPE, NAWS (RFC 857, 858, 1091, 1073)


def _by_rule(engine: RuleEngine) -> dict[str, Finding]:
    return {f.rule_id: f for f in engine.findings()}


def test_telnet_server_on_port_23_raises_telnet_enabled_with_flow_evidence(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    facts = {
        "options": IAC_OPTIONS,
        "text": "OpenBSD/i386 (oof) (ttyp2) login:",
        "login_prompt": True,
    }
    engine.on_observation(server_obs(100.0, "telnet", facts), None)
    found = _by_rule(engine)
    rec = found["telnet-enabled"]
    assert rec.kind is FindingKind.RECOMMENDATION
    assert rec.title == TITLES["telnet-enabled"]
    assert rec.status is Status.UNHEALTHY
    assert rec.devices == (TARGET_MAC,)
    assert rec.evidence["first_flow"] == "tcp 192.168.1.20:23 -> 192.168.1.10:50000"
    assert rec.evidence["first_at"] == 100.0
    assert rec.evidence["last_dst_port"] == 50000
    assert "telnet-no-auth" not in found  # a login prompt came first


def test_telnet_on_port_2323_is_recognised_by_iac_not_by_port(make_engine: EngineFactory) -> None:
    engine = make_engine()
    engine.on_observation(server_obs(5.0, "telnet", {"options": (1, 3)}, server_port=2323), None)
    assert _by_rule(engine)["telnet-enabled"].evidence["first_port"] == 2323


def test_a_connection_to_port_23_without_telnet_bytes_raises_nothing(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    # The server accepting on port 23 (SYN-ACK) and a tcp_syn observation: port number only.
    engine.on_frame(tcp(1.0, "192.168.1.20", "192.168.1.10", 23, 50000, "SA"))
    engine.on_observation(server_obs(1.0, "tcp_syn", {"port": 23, "ttl": 64}), None)
    engine.on_observation(server_obs(1.1, "telnet", {"options": (), "text": ""}), None)
    assert engine.findings() == []


def test_shell_prompt_without_login_raises_telnet_no_auth(make_engine: EngineFactory) -> None:
    engine = make_engine()
    facts = {"options": (1, 3), "text": "Polycom Command Shell\r\n-> ", "shell_prompt": True}
    engine.on_observation(server_obs(10.0, "telnet", facts), None)
    found = _by_rule(engine)
    assert found["telnet-no-auth"].title == TITLES["telnet-no-auth"]
    assert found["telnet-no-auth"].status is Status.UNHEALTHY
    assert found["telnet-no-auth"].evidence["first_banner"].startswith("Polycom Command Shell")
    assert found["telnet-enabled"].status is Status.UNHEALTHY


def test_telnet_no_auth_turns_healthy_when_a_later_session_asks_for_a_password(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_observation(server_obs(10.0, "telnet", {"text": "# ", "shell_prompt": True}), None)
    engine.on_observation(
        server_obs(20.0, "telnet", {"text": "Password:", "password_prompt": True}), None
    )
    assert _by_rule(engine)["telnet-no-auth"].status is Status.HEALTHY


def test_telnet_enabled_turns_healthy_when_the_port_now_refuses_connections(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_observation(server_obs(10.0, "telnet", {"options": (1,)}), None)
    # RFC 9293 §3.5.2: a closed port answers a SYN with RST/ACK, sequence number 0.
    engine.on_frame(tcp(50.0, "192.168.1.20", "192.168.1.10", 23, 50001, "RA", seq=0, ack=1))
    rec = _by_rule(engine)["telnet-enabled"]
    assert rec.status is Status.HEALTHY
    assert rec.evidence["first_at"] == 10.0 and rec.evidence["last_at"] == 50.0


def test_a_reset_in_the_middle_of_a_session_is_not_evidence_of_a_closed_port(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_observation(server_obs(10.0, "telnet", {"options": (1,)}), None)
    engine.on_frame(tcp(50.0, "192.168.1.20", "192.168.1.10", 23, 50000, "RA", seq=77123))
    assert _by_rule(engine)["telnet-enabled"].status is Status.UNHEALTHY


def _snmp(at: float, version: str, **facts: FactValue) -> Observation:
    return server_obs(
        at,
        "snmp",
        {"version": version, "pdu": "response", "community_hash": "9f86d081884c7d65", **facts},
        server_port=161,
        transport="udp",
        client_port=40000,
    )


def test_snmp_v2c_answer_raises_snmp_v1_v2_saying_the_community_is_default(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_observation(_snmp(1.0, "2c", community_default=True), None)
    rec = _by_rule(engine)["snmp-v1-v2"]
    assert rec.title == TITLES["snmp-v1-v2"]
    assert rec.evidence["first_community_default"] is True
    assert rec.evidence["first_version"] == "2c"
    assert rec.evidence["first_flow"] == "udp 192.168.1.20:161 -> 192.168.1.10:40000"
    text = repr(rec.to_json())
    assert "9f86d081884c7d65" not in text and "public" not in text


def test_snmp_v1_answer_with_a_custom_community_is_unhealthy_not_default(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_observation(_snmp(1.0, "1", community_default=False), None)
    rec = _by_rule(engine)["snmp-v1-v2"]
    assert rec.status is Status.UNHEALTHY
    assert rec.evidence["first_community_default"] is False


def test_snmpv3_only_agent_raises_nothing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    engine.on_observation(_snmp(1.0, "3"), None)
    assert engine.findings() == []


def test_snmp_manager_requests_alone_do_not_make_the_agent_unhealthy(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    request = client_obs(1.0, "snmp", {"version": "2c", "pdu": "get", "community_default": True})
    engine.on_observation(request, None)
    assert engine.findings() == []


def test_snmp_turns_healthy_when_the_agent_answers_only_v3_later(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(repeat_window_s=600.0)
    engine.on_observation(_snmp(1.0, "2c", community_default=True), None)
    engine.on_observation(_snmp(100.0, "3"), None)
    assert _by_rule(engine)["snmp-v1-v2"].status is Status.UNHEALTHY  # v2c too recent
    engine.on_observation(_snmp(1000.0, "3"), None)
    rec = _by_rule(engine)["snmp-v1-v2"]
    assert rec.status is Status.HEALTHY
    assert rec.evidence["last_version"] == "3"


def _rfb(at: float, **facts: FactValue) -> Observation:
    return server_obs(at, "rfb", dict(facts), server_port=5900)


def test_rfb_38_server_offering_none_raises_vnc_no_auth(make_engine: EngineFactory) -> None:
    engine = make_engine()
    # RFC 6143 §7.1.2: the server lists types; 1 = None. The client then chooses 1.
    engine.on_observation(_rfb(1.0, version="003.008", security_types=(1, 2)), None)
    rec = _by_rule(engine)["vnc-no-auth"]
    assert rec.title == TITLES["vnc-no-auth"]
    assert rec.evidence["first_security_types"] == [1, 2]


def test_rfb_33_server_selecting_none_raises_vnc_no_auth(make_engine: EngineFactory) -> None:
    engine = make_engine()
    engine.on_observation(_rfb(1.0, version="003.003", selected_type=1), None)
    assert _by_rule(engine)["vnc-no-auth"].status is Status.UNHEALTHY


def test_rfb_server_requiring_vnc_authentication_raises_nothing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    engine.on_observation(_rfb(1.0, version="003.008", security_types=(2,)), None)
    engine.on_observation(_rfb(2.0, version="003.003", selected_type=2), None)
    engine.on_observation(_rfb(3.0, version="003.007", security_types=(18, 2)), None)
    assert engine.findings() == []


def test_vnc_no_auth_turns_healthy_when_the_server_later_requires_a_password(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    engine.on_observation(_rfb(1.0, version="003.008", security_types=(1,)), None)
    engine.on_observation(_rfb(9.0, version="003.008", security_types=(2,)), None)
    assert _by_rule(engine)["vnc-no-auth"].status is Status.HEALTHY


def test_recommendation_becomes_stale_after_the_configured_period(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(stale_after_s=3600.0)
    engine.on_observation(_rfb(1.0, security_types=(1,)), None)
    engine.tick(1.0 + 3600.0)
    assert _by_rule(engine)["vnc-no-auth"].status is Status.UNHEALTHY
    engine.tick(1.0 + 3601.0)
    assert _by_rule(engine)["vnc-no-auth"].status is Status.STALE
    engine.on_observation(_rfb(5000.0, security_types=(1,)), None)
    assert _by_rule(engine)["vnc-no-auth"].status is Status.UNHEALTHY


def test_an_agent_known_only_by_a_public_address_is_keyed_by_address_not_router_mac(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    # The agent's packets arrive through the router: their source MAC is the router's.
    obs = server_obs(
        1.0,
        "snmp",
        {"version": "2c", "pdu": "response"},
        server_mac="02:00:00:00:00:01",
        server_ip="138.68.10.203",
        server_port=161,
        transport="udp",
    )
    engine.on_observation(obs, None)
    assert _by_rule(engine)["snmp-v1-v2"].devices == ("0/138.68.10.203",)
