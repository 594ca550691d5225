"""Windows Browser protocol announcements ([MS-BRWS]): Frame (UDP 138) → Observation.

Windows hosts announce themselves on the NetBIOS datagram service (RFC 1002 §4.4.1: a
14-byte header, then the source and destination NetBIOS names, 34 bytes each) in an SMB
Transaction request (SMB_COM_TRANSACTION, [MS-CIFS] §2.2.4.33) to the mailslot
\\MAILSLOT\\BROWSE. The transaction data is the browser message ([MS-BRWS] §2.2): a
HostAnnouncement (opcode 0x01) or LocalMasterAnnouncement (0x0F) names the sender (16-byte
server name), its OS version (major, minor) and its server type bits ([MS-RAP] §2.5.5.2.1:
SV_TYPE_WORKSTATION 0x1, SV_TYPE_SERVER 0x2, SV_TYPE_NT 0x1000, SV_TYPE_SERVER_NT 0x8000,
SV_TYPE_WINDOWS 0x00400000 = Windows 95 and later...). Domain announcements (0x0C) describe
the workgroup, not the sender, and other browser messages name no host: neither is reported.

Facts (role announcer): `opcode` ("host_announcement", "local_master_announcement"),
`name` (the announced server name), `os_version` ("4.0"), `server_types` (tuple of the set
SV_TYPE names, lower-case without the prefix: "workstation", "server", "windows"...),
`comment`.
"""

from __future__ import annotations

import struct

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "browser"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS = frozenset({138})
TCP_PORTS: frozenset[int] = frozenset()
SCAPY = False

DGM_HEADER_LEN = 14  # RFC 1002 §4.4.1
NETBIOS_NAME_LEN = 34  # length byte 0x20, 32 encoded characters, root label
DIRECT_DATAGRAM_TYPES = frozenset({0x10, 0x11, 0x12})  # direct unique / group / broadcast
SMB_MAGIC = b"\xffSMB"
SMB_HEADER_LEN = 32
SMB_COM_TRANSACTION = 0x25
TRANSACTION_WORDS = 14  # word count of a Transaction request without setup words
MAILSLOT = b"\\MAILSLOT\\BROWSE"
OPCODES = {0x01: "host_announcement", 0x0F: "local_master_announcement"}
ANNOUNCEMENT_LEN = 32  # opcode .. signature, before the comment
SERVER_NAME_LEN = 16
SV_TYPES = {
    0x00000001: "workstation",
    0x00000002: "server",
    0x00000004: "sqlserver",
    0x00000008: "domain_ctrl",
    0x00000010: "domain_bakctrl",
    0x00000020: "time_source",
    0x00000040: "afp",
    0x00000080: "novell",
    0x00000100: "domain_member",
    0x00000200: "printq_server",
    0x00000400: "dialin_server",
    0x00000800: "server_unix",
    0x00001000: "nt",
    0x00002000: "wfw",
    0x00004000: "server_mfpn",
    0x00008000: "server_nt",
    0x00010000: "potential_browser",
    0x00020000: "backup_browser",
    0x00040000: "master_browser",
    0x00080000: "domain_master",
    0x00100000: "server_osf",
    0x00200000: "server_vms",
    0x00400000: "windows",
    0x00800000: "dfs",
    0x01000000: "cluster_nt",
    0x02000000: "terminalserver",
    0x04000000: "cluster_vs_nt",
    0x10000000: "dce",
    0x20000000: "alternate_xport",
    0x40000000: "local_list_only",
}


def wants(frame: Frame) -> bool:
    return False


def _browser_message(data: bytes) -> bytes | None:
    """The transaction data of a \\MAILSLOT\\BROWSE datagram, or None for other datagrams."""
    if len(data) < DGM_HEADER_LEN or data[0] not in DIRECT_DATAGRAM_TYPES:
        return None
    smb = data[DGM_HEADER_LEN + 2 * NETBIOS_NAME_LEN :]
    if not smb.startswith(SMB_MAGIC):
        return None
    if len(smb) < SMB_HEADER_LEN + 1 or smb[4] != SMB_COM_TRANSACTION:
        return None
    words = smb[SMB_HEADER_LEN]
    if words < TRANSACTION_WORDS or len(smb) < SMB_HEADER_LEN + 1 + 2 * words + 2:
        raise DecodeError("browser_smb_truncated")
    params = SMB_HEADER_LEN + 1
    data_count, data_offset = struct.unpack_from("<HH", smb, params + 22)
    names_at = params + 2 * words + 2
    if MAILSLOT not in smb[names_at : names_at + 64]:
        return None
    if data_offset + data_count > len(smb):
        raise DecodeError("browser_data_truncated")
    return smb[data_offset : data_offset + data_count]


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    message = _browser_message(frame.payload)
    if not message or message[0] not in OPCODES:
        return []
    if len(message) < ANNOUNCEMENT_LEN:
        raise DecodeError("browser_announcement_truncated")
    name = message[6 : 6 + SERVER_NAME_LEN].split(b"\x00", 1)[0]
    major, minor = message[22], message[23]
    server_type = struct.unpack_from("<I", message, 24)[0]
    facts: dict[str, FactValue] = {
        "opcode": OPCODES[message[0]],
        "os_version": f"{major}.{minor}",
        "server_types": tuple(label for bit, label in SV_TYPES.items() if server_type & bit),
    }
    if name.strip():
        facts["name"] = clean_text(name, SERVER_NAME_LEN)
    comment = message[ANNOUNCEMENT_LEN:].split(b"\x00", 1)[0]
    if comment.strip():
        facts["comment"] = clean_text(comment, ctx.text_max_bytes)
    return [observe(frame, NAME, Role.ANNOUNCER, facts)]
