"""Classifier behaviour: evidence combination, abstention, no flapping, scanners, roles."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from capture.classify import Classifier
from capture.device import DeviceRecord
from capture.observation import Observation, Role
from capture.pipeline import Pipeline
from capture.sniffer import open_capture
from firmware.config import ClassifyConfig, Config

YEALINK_MAC = "00:15:65:12:34:56"  # IEEE MA-L 001565 = Xiamen Yealink Network Technology
VMWARE_MAC = "00:0c:29:40:0e:ef"  # IEEE MA-L 000C29 = VMware, Inc.
DELL_MAC = "90:b1:1c:99:49:29"  # IEEE MA-L 90B11C = Dell Inc.
RANDOM_MAC = "42:b4:44:b4:f0:ee"  # 0x42: locally administered bit set


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(ClassifyConfig())


def device(mac: str | None = DELL_MAC, **facts: list[Any]) -> DeviceRecord:
    """A DeviceRecord with facts given as protocol__key=[values] (dots in keys as ___)."""
    record = DeviceRecord(key=mac or "0/10.0.0.9", mac=mac, first_seen=0.0, last_seen=0.0)
    for name, values in facts.items():
        protocol, key = name.split("__", 1)
        record.facts[(protocol, key.replace("___", "."))] = list(values)
    return record


def merge(record: DeviceRecord, obs: Observation) -> None:
    """What the Inventory does before calling observe(): facts merged as distinct values."""
    for key, value in obs.facts.items():
        values = record.facts.setdefault((obs.protocol, key), [])
        if value not in values:
            values.append(value)


def test_sip_user_agent_gives_type_vendor_model_firmware_with_evidence(
    classifier: Classifier,
) -> None:
    d = device(YEALINK_MAC, sip__user_agent=["Yealink SIP-T46S 66.85.0.5"])
    changes = classifier.classify(d)
    assert {c.field: c.after for c in changes} == {
        "category": "iot",
        "type": "voip_phone",
        "vendor": "Yealink",
        "model": "SIP-T46S",
        "firmware": "66.85.0.5",
    }
    assert all(c.before is None for c in changes)
    assert any("sip-ua-yealink-phone" in e for e in d.classification["type"].evidence)
    assert 0.9 < d.classification["type"].confidence <= 1.0


def test_weak_evidence_alone_abstains(classifier: Classifier) -> None:
    d = device(RANDOM_MAC, mdns__services=[("_googlecast._tcp",)])  # weight 0.55 < 0.6
    classifier.classify(d)
    assert d.value("type") is None and d.value("category") is None
    assert d.classification["type"].confidence == pytest.approx(0.55)


def test_oui_alone_names_the_vendor_but_not_the_type(classifier: Classifier) -> None:
    d = device(DELL_MAC)
    classifier.classify(d)
    assert d.value("vendor") == "Dell" and d.value("type") is None


ZERO_OUI_MAC = "00:00:00:60:dd:19"  # IEEE MA-L 000000 = Xerox (the 1980s block)


@pytest.mark.parametrize("mac", [RANDOM_MAC, VMWARE_MAC, ZERO_OUI_MAC, None])
def test_random_virtual_zeroed_or_missing_macs_get_no_vendor(
    classifier: Classifier, mac: str | None
) -> None:
    d = device(mac, dhcp__msg_type=["discover"], dhcp__param_list=[(1, 3, 6)])
    classifier.classify(d)
    assert d.value("vendor") is None


def test_dhcp_renewal_without_hostname_does_not_unclassify(classifier: Classifier) -> None:
    d = device("a4:5e:60:01:02:03", dhcp__hostname=["Lucas-iPhone"], dhcp__msg_type=["request"])
    classifier.classify(d)
    assert d.value("type") == "mobile"
    # The hostname fact was evicted; a renewal arrives with no hostname at all.
    del d.facts[("dhcp", "hostname")]
    renewal = Observation(
        1.0, d.mac, "10.0.0.5", None, "dhcp", Role.CLIENT, {"msg_type": "request"}
    )
    merge(d, renewal)
    assert classifier.observe(d, renewal) == []
    assert d.value("type") == "mobile" and d.value("vendor") == "Apple"


def test_weaker_conflicting_evidence_does_not_flip_the_type(classifier: Classifier) -> None:
    d = device(DELL_MAC, mdns__services=[("_ipp._tcp", "_pdl-datastream._tcp")])
    classifier.classify(d)
    assert d.value("type") == "printer"
    d.facts[("http", "user_agent")] = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64)"]  # 0.6
    assert "type" not in {c.field for c in classifier.classify(d)}
    assert d.value("type") == "printer"


def test_stronger_evidence_changes_a_field_with_an_event(classifier: Classifier) -> None:
    d = device(DELL_MAC, dhcp__hostname=["DESKTOP-4F2K9QJ"], dhcp__msg_type=["request"])
    classifier.classify(d)
    assert d.value("type") == "workstation"
    d.facts[("sip", "user_agent")] = ["Yealink SIP-T46S 66.85.0.5"]
    d.facts[("lldp", "enabled_capabilities")] = [("telephone",)]
    changes = {c.field: c for c in classifier.classify(d)}
    assert (changes["type"].before, changes["type"].after) == ("workstation", "voip_phone")
    assert changes["type"].evidence and changes["type"].confidence >= 0.6
    assert (changes["category"].before, changes["category"].after) == ("computer_mobile", "iot")


def test_conflicting_strong_claims_abstain_rather_than_guess(classifier: Classifier) -> None:
    d = device(
        RANDOM_MAC,
        http__server=["Xerox_MicroServer/Xerox11"],  # printer 0.9
        sip__user_agent=["Grandstream GXP2170 1.0.11.23"],  # voip_phone 0.95
    )
    classifier.classify(d)
    assert d.value("type") is None


@pytest.mark.parametrize(
    ("protocol", "role", "facts"),
    [
        # nmap's SIPOptions probe: OPTIONS with no product token
        (
            "sip",
            Role.CLIENT,
            {"method": "OPTIONS", "from_uri": "sip:nm@nm", "contact": "<sip:nm@nm>"},
        ),
        ("snmp", Role.CLIENT, {"version": "1", "pdu": "get", "community_default": True}),
        ("mdns", Role.CLIENT, {"queries": ("_ipp._tcp.local", "_googlecast._tcp.local")}),
        (
            "ssdp",
            Role.CLIENT,
            {"method": "M-SEARCH", "st": "urn:schemas-upnp-org:device:Printer:1"},
        ),
    ],
)
def test_scanners_are_not_the_devices_they_probe(
    classifier: Classifier, protocol: str, role: Role, facts: dict[str, Any]
) -> None:
    d = device(RANDOM_MAC)
    classifier.classify(d)
    probe = Observation(1.0, RANDOM_MAC, "10.0.0.66", None, protocol, role, facts)
    merge(d, probe)
    assert classifier.observe(d, probe) == []
    classifier.classify(d)
    assert d.value("type") is None


def test_mdns_answer_announcing_a_printer_counts(classifier: Classifier) -> None:
    d = device(DELL_MAC)
    classifier.classify(d)
    answer = Observation(
        1.0, DELL_MAC, "10.0.0.7", None, "mdns", Role.ANNOUNCER,
        {"services": ("_ipp._tcp", "_pdl-datastream._tcp"), "txt.ty": "Dell C2665dnf Color MFP"},
    )  # fmt: skip
    merge(d, answer)
    changes = classifier.observe(d, answer)
    assert {c.field for c in changes} >= {"type", "model"}
    assert d.value("type") == "printer" and d.value("model") == "Dell C2665dnf Color MFP"


def test_dhcp_server_echoing_a_vendor_class_is_not_that_client(classifier: Classifier) -> None:
    # A server echoing option 60 "ArubaAP" in its OFFER/ACK is not an Aruba AP.
    d = device(VMWARE_MAC, dhcp__msg_type=["offer", "ack"], dhcp__vendor_class=["ArubaAP"])
    classifier.classify(d)
    assert d.value("type") is None and d.value("vendor") is None


def test_classification_is_deterministic(classifier: Classifier) -> None:
    d = device(
        YEALINK_MAC,
        sip__user_agent=["Yealink SIP-T46S 66.85.0.5"],
        dhcp__hostname=["SIP-T46S"],
        mdns__txt___md=["x"],
    )
    a, b = copy.deepcopy(d), copy.deepcopy(d)
    assert Classifier(ClassifyConfig()).classify(a) == Classifier(ClassifyConfig()).classify(b)
    assert a.to_json() == b.to_json()


def test_models_differing_only_by_the_maker_prefix_are_one_model(classifier: Classifier) -> None:
    d = device(
        RANDOM_MAC,
        mdns__services=[("_ipp._tcp",)],
        mdns__txt___ty=["HP LaserJet Pro M404dn"],
        mdns__txt___usb_MFG=["HP"],
        mdns__txt___usb_MDL=["LaserJet Pro M404dn"],
    )
    classifier.classify(d)
    assert d.value("vendor") == "HP"
    fv = d.classification["model"]
    assert fv.value in ("HP LaserJet Pro M404dn", "LaserJet Pro M404dn")
    assert not any(e.startswith("against") for e in fv.evidence)


def test_threshold_comes_from_config() -> None:
    strict = Classifier(ClassifyConfig(min_confidence=0.99))
    d = device(YEALINK_MAC, sip__user_agent=["Yealink SIP-T46S 66.85.0.5"])
    strict.classify(d)
    assert d.value("model") is None  # one 0.95 rule is below 0.99


def test_a_more_specific_os_refines_without_a_margin(classifier: Classifier) -> None:
    d = device(RANDOM_MAC, dhcp__vendor_class=["MSFT 5.0"], dhcp__msg_type=["request"])
    classifier.classify(d)
    assert d.value("os") == "Windows"
    d.facts[("snmp", "sys_descr")] = [
        "Hardware: Intel64 Family 6 Model 85 Stepping 4 AT/AT COMPATIBLE - Software: Windows "
        "Version 6.3 (Build 17763 Multiprocessor Free)"
    ]
    changes = classifier.classify(d)
    assert [(c.field, c.before, c.after) for c in changes] == [
        ("os", "Windows", "Windows Version 6.3")
    ]


def test_a_stronger_rival_withdraws_a_contested_type_with_an_event(classifier: Classifier) -> None:
    # A TV's built-in browser in desktop mode first looks like a Linux desktop...
    d = device(
        RANDOM_MAC, http__user_agent=["Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Firefox/115.0"]
    )
    d.facts[("sip", "user_agent")] = ["Nero SIPPS IP Phone Version 2.0.51.16"]  # softphone 0.7
    classifier.classify(d)
    assert d.value("type") == "workstation"
    # ...then a phone's own SIP User-Agent and LLDP say otherwise, much more strongly.
    d.facts[("lldp", "enabled_capabilities")] = [("telephone",)]
    d.facts[("lldp", "med_device_class")] = ["endpoint_class_3"]
    changes = {c.field: (c.before, c.after) for c in classifier.classify(d)}
    assert changes["type"][0] == "workstation"
    assert d.value("type") in (None, "voip_phone")


@pytest.mark.parametrize(
    ("key", "value"),
    [("min_confidence", 1.5), ("oui_weight", -0.1), ("change_margin", 2.0), ("oui_weight", "high")],
)
def test_classify_options_are_validated(key: str, value: object) -> None:
    from firmware.config import config_from_dict
    from firmware.errors import ConfigError

    with pytest.raises(ConfigError, match=f"classify.{key}"):
        config_from_dict({"classify": {key: value}})


def test_with_the_inventory_a_renewal_and_a_scanner_change_nothing() -> None:
    from capture.inventory import Inventory
    from firmware.config import InventoryConfig

    inventory = Inventory(InventoryConfig(), Classifier(ClassifyConfig()))
    phone = "a4:5e:60:01:02:03"
    first = Observation(
        1.0, phone, "10.0.0.5", None, "dhcp", Role.CLIENT,
        {"msg_type": "request", "hostname": "Annas-iPhone", "param_list": (1, 121, 3, 6, 15, 119, 252)},
    )  # fmt: skip
    device = inventory.update(first)
    assert device is not None and device.value("type") == "mobile"
    before = device.to_json()
    for n in range(5):  # renewals without a hostname, and an nmap box probing the phone
        inventory.update(
            Observation(
                2.0 + n, phone, "10.0.0.5", None, "dhcp", Role.CLIENT, {"msg_type": "request"}
            )
        )
        probe = {"method": "OPTIONS", "from_uri": "sip:nm@nm"}
        inventory.update(
            Observation(2.0 + n, RANDOM_MAC, "10.0.0.66", None, "sip", Role.CLIENT, probe)
        )
    assert {k: v for k, v in device.to_json().items() if k not in ("last_seen",)} == {
        k: v for k, v in before.items() if k not in ("last_seen",)
    }
    scanner = inventory.get(RANDOM_MAC)
    assert scanner is not None and scanner.value("type") is None


def test_snmpv3_engine_enterprise_names_the_agent_never_the_manager(corpus: Path) -> None:
    """suricata-verify SNMPv3 capture: agent 192.168.29.160 answers with engine ID 000039e7...
    (enterprise 14823, Aruba, RFC 3411 §5); manager 192.168.29.58 sends the same engine ID in
    its requests (the agent's, as USM requires), which must not make it an Aruba device."""
    pipe = Pipeline(Config())
    for pkt in open_capture(corpus / "suricata-verify/snmp-v3-encrypted__SNMPv3.pcap"):
        pipe.process(pkt.data, pkt.at, pkt.linktype, pkt.vlan)
    agent = pipe.inventory.by_ip("192.168.29.160")
    manager = pipe.inventory.by_ip("192.168.29.58")
    assert agent is not None and manager is not None
    vendor = agent.classification["vendor"]
    assert vendor.value == "HPE Aruba"
    assert any("snmp-oid-14823-hpe" in e for e in vendor.evidence)
    manager_vendor = manager.classification.get("vendor")
    evidence = manager_vendor.evidence if manager_vendor else []
    assert not any("snmp" in e for e in evidence)


def test_sonos_player_is_typed_by_its_device_certificate(corpus: Path) -> None:
    """nDPI/sonos.pcapng: 192.168.1.70 serves TLS on 1443 with a certificate issued by
    'Sonos Device Authentication Root CA' (tshark x509 dissector)."""
    pipe = Pipeline(Config())
    for pkt in open_capture(corpus / "nDPI/sonos.pcapng"):
        pipe.process(pkt.data, pkt.at, pkt.linktype, pkt.vlan)
    player = pipe.inventory.by_ip("192.168.1.70")
    assert player is not None
    for name, value in (("type", "audio"), ("vendor", "Sonos")):
        field = player.classification[name]
        assert field.value == value
        assert any("tls-cert-sonos-device-ca" in e for e in field.evidence), name
    assert "tcp/1443" in player.services and player.services["tcp/1443"].name == "tls"


HIKVISION_MAC = "44:19:b6:2d:3e:4f"  # IEEE MA-L 4419B6 = Hangzhou Hikvision Digital Technology


def test_registry_type_hint_is_no_rival_to_the_product_line_the_device_names(
    classifier: Classifier,
) -> None:
    # The registry says "Hikvision" and oui-hikvision hints ip_camera; the SADP reply names a
    # DS-K1T face recognition terminal. The device's own word wins at its full weight.
    d = device(HIKVISION_MAC, sadp__model=["DS-K1T671M"])
    decided = classifier.decide(d)
    assert decided["type"].value == "badge_reader"
    assert decided["type"].confidence == 0.85  # not lowered by the registry hint
    assert any(e.startswith("against: oui.organization") for e in decided["type"].evidence)
    # Without the device's word, the registry hint stands (and a real rival still counts).
    assert classifier.decide(device(HIKVISION_MAC))["type"].value is None  # 0.55 < 0.6
    rivals = device(HIKVISION_MAC, sadp__model=["DS-K1T671M"], http__server=["App-webs/"])
    assert classifier.decide(rivals)["type"].confidence < 0.6  # two stated types: abstain
