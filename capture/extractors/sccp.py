"""Cisco Skinny Client Control Protocol (SCCP) stations: Frame (TCP 2000) → Observation.

SCCP is the protocol Cisco IP phones ("stations") speak to Cisco Unified Communications
Manager on TCP port 2000. Every message is framed as: data length (4 bytes, little-endian,
counting the message id and the data), header version (4 bytes, 0 for the basic
framing, higher for the newer ones), message id (4 bytes, little-endian), then the data.
Station → Call Manager messages have ids below 0x0080 (and a few such as 0x0154
StartMediaTransmissionAck); Call Manager → station messages start at 0x0081.

Only the station side is read (segments sent to port 2000): the sender is the phone. The
RegisterMessage (id 0x0001) carries the station's device name (16 bytes, NUL-padded; Cisco
phones register as "SEP" + their MAC) and its numeric device type. Messages are parsed
within one segment; a message cut by the segment end is ignored (no reassembly).

Per connection (ctx.flows) an observation is emitted only when it adds something: a message
name not reported yet on that connection, or a registration. Facts: `messages` (tuple of
message names, ids without a known name as "0x...."), `device_name`, `device_type` (int),
`header_version` (int).
"""

from __future__ import annotations

import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "sccp"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
SCCP_PORT = 2000
TCP_PORTS = frozenset({SCCP_PORT})
SCAPY = False

HEADER_LEN = 12  # length, header version, message id
LENGTH_MIN = 4  # the length counts the message id and the data (no header version)
LENGTH_MAX = 4096  # far above any station message
HEADER_VERSION_MAX = 0x20  # basic (0) and the versioned framings (0x0A..0x16)
MESSAGES_MAX = 32  # message names reported per connection
DEVICE_NAME_LEN = 16

# Station → Call Manager message ids (Cisco SCCP message catalogue, as decoded by Wireshark's
# "skinny" dissector).
STATION_MESSAGES = {
    0x0000: "KeepAlive",
    0x0001: "Register",
    0x0002: "IpPort",
    0x0003: "KeypadButton",
    0x0004: "EnblocCall",
    0x0005: "Stimulus",
    0x0006: "OffHook",
    0x0007: "OnHook",
    0x0008: "HookFlash",
    0x0009: "ForwardStatReq",
    0x000A: "SpeedDialStatReq",
    0x000B: "LineStatReq",
    0x000C: "ConfigStatReq",
    0x000D: "TimeDateReq",
    0x000E: "ButtonTemplateReq",
    0x000F: "VersionReq",
    0x0010: "CapabilitiesRes",
    0x0020: "Alarm",
    0x0022: "OpenReceiveChannelAck",
    0x0025: "SoftKeySetReq",
    0x0026: "SoftKeyEvent",
    0x0027: "Unregister",
    0x0028: "SoftKeyTemplateReq",
    0x002D: "RegisterAvailableLines",
    0x0154: "StartMediaTransmissionAck",
}
REGISTER = 0x0001
FIRST_CALL_MANAGER_ID = 0x0081


def wants(frame: Frame) -> bool:
    return False


def _name(message_id: int) -> str:
    return STATION_MESSAGES.get(message_id, f"0x{message_id:04x}")


def _messages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(header version, message id, data) of each whole message in the segment."""
    out: list[tuple[int, int, bytes]] = []
    pos = 0
    while pos + HEADER_LEN <= len(data):
        length, version, message_id = struct.unpack_from("<III", data, pos)
        if not LENGTH_MIN <= length <= LENGTH_MAX or version > HEADER_VERSION_MAX:
            if not out:
                raise DecodeError("sccp_header")
            break
        end = pos + 8 + length
        if end > len(data):
            break  # cut by the segment end
        out.append((version, message_id, data[pos + HEADER_LEN : end]))
        pos = end
    if not out and data:
        raise DecodeError("sccp_truncated")
    return out


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    if frame.dst_port != SCCP_PORT:
        return []  # Call Manager → station: the sender is not the phone
    messages = _messages(frame.payload)
    key = (frame.vlan, frame.dst_ip, frame.dst_port, frame.src_ip, frame.src_port, NAME)
    state = ctx.flows.get(key)
    assert state is not None  # get(create=True) always returns the state
    seen: set[str] = state.setdefault("seen", set())
    facts: dict[str, FactValue] = {}
    names: list[str] = []
    for version, message_id, body in messages:
        if message_id >= FIRST_CALL_MANAGER_ID and message_id not in STATION_MESSAGES:
            continue  # not a station message: leave it unreported
        name = _name(message_id)
        if name not in names:
            names.append(name)
        facts["header_version"] = version
        if message_id == REGISTER and len(body) >= DEVICE_NAME_LEN:
            device_name = clean_text(body[:DEVICE_NAME_LEN].split(b"\x00", 1)[0], 64)
            if device_name:
                facts["device_name"] = device_name
            if len(body) >= DEVICE_NAME_LEN + 16:
                facts["device_type"] = struct.unpack_from("<I", body, DEVICE_NAME_LEN + 12)[0]
    new = [n for n in names if n not in seen]
    if not new and "device_name" not in facts:
        return []
    if len(seen) < MESSAGES_MAX:
        seen.update(new[: MESSAGES_MAX - len(seen)])
    facts["messages"] = tuple(names)
    return [observe(frame, NAME, Role.CLIENT, facts)]
