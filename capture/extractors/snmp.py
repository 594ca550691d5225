"""SNMP extractor (RFC 1157, RFC 3416, RFC 3412/3414): Frame (UDP 161/162) → Observation.

Reads the version, the PDU type and, from responses and traps, sysDescr, sysObjectID and
sysName. The community string is a password: it is never kept, only a salted hash
(ctx.hash_secret) and whether it is a default ("public"/"private"). SNMPv3 is recognised
by msgVersion 3; its user name is not kept; the authoritative engine ID gives the agent's
vendor (enterprise number, RFC 3411 §5) even when the PDU is encrypted.

A small BER reader instead of scapy's ASN.1 layer: scapy's SNMP class does not model v3,
and the subset needed here (definite lengths, INTEGER, OCTET STRING, OID, SEQUENCE and
the context tags of the PDUs) is a few dozen lines with explicit bounds.
"""

from __future__ import annotations

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "snmp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({161, 162})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
MAX_VARBINDS = 32
MAX_OID_ARCS = 128
PDUS = {
    0xA0: ("get", Role.CLIENT),
    0xA1: ("getnext", Role.CLIENT),
    0xA2: ("response", Role.SERVER),
    0xA3: ("set", Role.CLIENT),
    0xA4: ("trap", Role.SERVER),  # v1 Trap-PDU: sent by the agent
    0xA5: ("getbulk", Role.CLIENT),
    0xA6: ("inform", Role.CLIENT),
    0xA7: ("trap", Role.SERVER),  # SNMPv2-Trap-PDU
    0xA8: ("report", Role.SERVER),
}
VERSIONS = {0: "1", 1: "2c", 3: "3"}
SYSTEM_OIDS = {
    "1.3.6.1.2.1.1.1.0": "sys_descr",
    "1.3.6.1.2.1.1.2.0": "sys_object_id",
    "1.3.6.1.2.1.1.5.0": "sys_name",
}
DEFAULT_COMMUNITIES = frozenset({b"public", b"private"})
V3_REPORTABLE = 0x04  # RFC 3412 §6.4 msgFlags: set on requests, clear on responses
V3_PRIV = 0x02


def wants(frame: Frame) -> bool:
    return False


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the BER element at `pos`; X.690 definite lengths only."""
    if pos + 2 > end:
        raise DecodeError("snmp_ber_truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DecodeError("snmp_ber_long_tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise DecodeError("snmp_ber_length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise DecodeError("snmp_ber_truncated")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _tlv(data, pos, end)
    if got != tag:
        raise DecodeError("snmp_ber_tag")
    return start, stop


def _integer(data: bytes, pos: int, end: int) -> tuple[int, int]:
    start, stop = _expect(data, pos, end, INTEGER)
    if stop - start > 8 or stop == start:
        raise DecodeError("snmp_ber_integer")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def decode_oid(raw: bytes, reason: str = "snmp_oid") -> str:
    """Dotted text of a BER OBJECT IDENTIFIER value (X.690 §8.19); DecodeError(reason) if bad.

    Also reads X.509 attribute types (capture/extractors/dername.py)."""
    if not raw or len(raw) > MAX_OID_ARCS * 5:
        raise DecodeError(reason)
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if raw[-1] & 0x80:
        raise DecodeError(reason)
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def _varbinds(
    data: bytes, pos: int, end: int, facts: dict[str, FactValue], ctx: ExtractContext
) -> None:
    start, stop = _expect(data, pos, end, SEQUENCE)
    pos = start
    for _ in range(MAX_VARBINDS):
        if pos >= stop:
            return
        vb_start, vb_stop = _expect(data, pos, stop, SEQUENCE)
        oid_start, oid_stop = _expect(data, vb_start, vb_stop, OID)
        key = SYSTEM_OIDS.get(decode_oid(data[oid_start:oid_stop]))
        tag, v_start, v_stop = _tlv(data, oid_stop, vb_stop)
        if key == "sys_object_id" and tag == OID:
            facts[key] = decode_oid(data[v_start:v_stop])
        elif key is not None and tag == OCTET_STRING:
            facts[key] = clean_text(data[v_start:v_stop], ctx.text_max_bytes)
        pos = vb_stop


def _pdu(data: bytes, pos: int, end: int, facts: dict[str, FactValue], ctx: ExtractContext) -> Role:
    tag, start, stop = _tlv(data, pos, end)
    if tag not in PDUS:
        raise DecodeError("snmp_pdu_type")
    name, role = PDUS[tag]
    facts["pdu"] = name
    if tag == 0xA4:  # RFC 1157 Trap-PDU: enterprise, agent-addr, generic, specific, time
        o_start, o_stop = _expect(data, start, stop, OID)
        facts["trap_enterprise"] = decode_oid(data[o_start:o_stop])
        pos = o_stop
        for _ in range(4):
            pos = _tlv(data, pos, stop)[2]
    else:
        _, pos = _integer(data, start, stop)  # request-id
        status, pos = _integer(data, pos, stop)
        _, pos = _integer(data, pos, stop)  # error-index / max-repetitions
        if role is Role.SERVER and status:
            facts["error_status"] = status
    if role is Role.SERVER:
        _varbinds(data, pos, stop, facts, ctx)
    return role


def _v3(data: bytes, pos: int, end: int, facts: dict[str, FactValue], ctx: ExtractContext) -> Role:
    g_start, g_stop = _expect(data, pos, end, SEQUENCE)  # msgGlobalData
    _, p = _integer(data, g_start, g_stop)  # msgID
    _, p = _integer(data, p, g_stop)  # msgMaxSize
    f_start, f_stop = _expect(data, p, g_stop, OCTET_STRING)
    flags = data[f_start] if f_stop > f_start else 0
    model, _ = _integer(data, f_stop, g_stop)
    facts["security_model"] = model
    facts["encrypted"] = bool(flags & V3_PRIV)
    s_start, s_stop = _expect(data, g_stop, end, OCTET_STRING)  # msgSecurityParameters
    if model == 3 and s_stop > s_start:  # USM: SEQUENCE { engineID, ... userName ... }
        u_start, u_stop = _expect(data, s_start, s_stop, SEQUENCE)
        e_start, e_stop = _expect(data, u_start, u_stop, OCTET_STRING)
        engine = data[e_start:e_stop]
        if engine:
            facts["engine_id"] = engine[:32].hex()
            if len(engine) >= 4:  # RFC 3411 §5: first 4 bytes = enterprise, top bit set
                pen = int.from_bytes(engine[:4], "big") & 0x7FFFFFFF
                facts["engine_enterprise"] = pen
                # The enterprise's arc, the form sysObjectID.0 starts with: the sysObjectID
                # rules (fingerprints/snmp.toml) read both facts.
                facts["engine_oid"] = f"1.3.6.1.4.1.{pen}"
    role = Role.CLIENT if flags & V3_REPORTABLE else Role.SERVER
    tag, m_start, m_stop = _tlv(data, s_stop, end)
    if tag == SEQUENCE:  # plaintext ScopedPDU: contextEngineID, contextName, PDU
        _, p = _expect(data, m_start, m_stop, OCTET_STRING)
        _, p = _expect(data, p, m_stop, OCTET_STRING)
        role = _pdu(data, p, m_stop, facts, ctx)
    return role


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    data = frame.payload
    start, end = _expect(data, 0, len(data), SEQUENCE)
    version_number, pos = _integer(data, start, end)
    version = VERSIONS.get(version_number)
    if version is None:
        raise DecodeError("snmp_version")
    facts: dict[str, FactValue] = {"version": version}
    if version == "3":
        role = _v3(data, pos, end, facts, ctx)
    else:
        c_start, c_stop = _expect(data, pos, end, OCTET_STRING)
        community = data[c_start:c_stop]
        facts["community_hash"] = ctx.hash_secret(community)
        facts["community_default"] = community in DEFAULT_COMMUNITIES
        role = _pdu(data, c_stop, end, facts, ctx)
    return [observe(frame, NAME, role, facts)]
