"""Printer Job Language replies on the raw print port: Frame (TCP 9100) → Observation.

TCP 9100 is the HP JetDirect "raw" (AppSocket) port: a client sends the print job, the
printer may answer on the same connection. HP's PJL Technical Reference Manual defines the
printer's replies: they start with "@PJL" and the command being answered ("@PJL INFO ID",
"@PJL USTATUS DEVICE", "@PJL DMINFO ..."), lines end in CR LF, and an INFO ID reply gives the
printer's model name quoted on the next line (`@PJL INFO ID` / `"HP LaserJet 4250"`).

Only the printer → client direction is read (segments from port 9100): the job itself is
never looked at. Facts: `reply` (the answered command, upper-case: "INFO", "USTATUS",
"DMINFO", "ECHO"...), `category` (its first argument: "ID", "STATUS", "DEVICE"...),
`device_id` (INFO ID: the quoted model name). A printer answers one query once, so one
observation per reply; the first line is capped at LINE_MAX bytes.
"""

from __future__ import annotations

import re

from capture.errors import DecodeError
from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import Frame
from capture.observation import FactValue, Observation, Role

NAME = "pjl"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
RAW_PRINT_PORT = 9100
TCP_PORTS = frozenset({RAW_PRINT_PORT})
SCAPY = False

UEL = b"\x1b%-12345X"  # Universal Exit Language: may precede a PJL reply
LINE_MAX = 256
_REPLY = re.compile(rb"@PJL[ \t]+([A-Za-z]+)(?:[ \t]+([A-Za-z]+))?")
_QUOTED = re.compile(rb'^\s*"([^"\r\n]{1,128})"')


def wants(frame: Frame) -> bool:
    return False


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    if frame.src_port != RAW_PRINT_PORT:
        return []  # the client's print job: never read
    data = frame.payload
    if data.startswith(UEL):
        data = data[len(UEL) :]
    if not data.startswith(b"@PJL"):
        return []  # printer output that is not a PJL reply (PostScript messages, status)
    first, _, rest = data.partition(b"\n")
    match = _REPLY.match(first[:LINE_MAX])
    if match is None:
        raise DecodeError("pjl_reply")
    reply = match.group(1).decode("ascii").upper()
    facts: dict[str, FactValue] = {"reply": reply}
    if match.group(2):
        facts["category"] = match.group(2).decode("ascii").upper()
    if reply == "INFO" and facts.get("category") == "ID":
        quoted = _QUOTED.match(rest)
        if quoted is not None:
            facts["device_id"] = clean_text(quoted.group(1), ctx.text_max_bytes)
    return [observe(frame, NAME, Role.SERVER, facts)]
