"""Telnet servers: Frame → Observation (options, banner text, login / password / shell prompt).

Recognised by IAC negotiation or a login prompt, on any port (port 23 and 2323 are claimed
outright). Only the server → client direction is read: the client's keystrokes are never
looked at, and the server's echo of them is kept out of `text` (below).

Per flow (ctx.flows) the extractor runs the RFC 854 IAC state machine across segments,
strips every command (WILL/WONT/DO/DONT option, SB ... IAC SE, two-byte commands) and records
the option codes the server negotiated (RFC 855; codes from the IANA "Telnet Options"
registry). Server text is collected until the first prompt:

  * a login prompt ("login:", "Username:", "User Name :", "Account Name:" at the end of the
    last line) ends the banner; after it only a later password prompt's own line is added,
    so an echoed user name never enters `text`;
  * a password prompt ("Password:", "Passcode:", or a "password required" notice such as
    Cisco's "Password required, but none set") ends the text;
  * a shell prompt (the last line ends in "#", "$", ">" or "%", as "router>" or
    "BusyBox ... # ") reached with no login or password prompt before it means the server
    gave a command line without authentication; it also ends the text.

The cleaned text is capped at ctx.text_max_bytes. After the prompts, a bounded amount of
server output (SCAN_MAX_BYTES) is still searched for an authentication failure
("Login incorrect", "% Authentication failed", "Access denied", ...).

An observation is emitted when the state changes (negotiation seen, text seen or complete,
a prompt flag or auth_failed flips) and on the server's FIN/RST if text grew since.
The same bounded scan reads one more fact: the kernel version line a BSD prints at login
(its /etc/motd starts with it), as `os_banner` ("OpenBSD 2.6-beta"): OS name and release
only, nothing else of the session.
Added fact keys: `port` (the server's TCP port), `os_banner`.
"""

from __future__ import annotations

import re
from typing import Any

from capture.extractors import ExtractContext
from capture.extractors.emit import clean_text, observe
from capture.frame import TCP_FIN, TCP_RST, Frame
from capture.observation import Observation, Role

NAME = "telnet"
ETHERTYPES: frozenset[int] = frozenset()
LLC = False
UDP_PORTS: frozenset[int] = frozenset()
TCP_PORTS = frozenset({23, 2323})
SCAPY = False

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
OPTIONS_MAX = 40
SCAN_MAX_BYTES = 8192  # server output searched for prompts and failures, per connection
LINE_MAX_BYTES = 256  # the unfinished last line kept between segments
PROMPT_LINE_MAX = 80  # a shell prompt line is short

# IAC parser states
_DATA, _IAC, _OPTION, _SB, _SB_IAC = range(5)

_LOGIN = re.compile(
    r"\b(?:login|user\s*name|user\s*id|userid|user|account(?:\s*name)?|login\s*name)\s*:\s*$",
    re.IGNORECASE,
)
_PASSWORD = re.compile(r"\b(?:password|passcode|passwd|pass\s*word)\s*:\s*$", re.IGNORECASE)
_PASSWORD_NOTICE = re.compile(r"password required", re.IGNORECASE)
_SHELL = re.compile(r"[#$>%]\s*$")
_AUTH_FAILED = re.compile(
    r"login incorrect|authentication failed|access denied|login failed|bad password"
    r"|incorrect password|invalid password|authentication failure",
    re.IGNORECASE,
)


# The BSDs rewrite the first line of /etc/motd at boot with the kernel version (OpenBSD
# rc(8) and motd(5), FreeBSD rc.d/motd, NetBSD rc.d/motd), so a login prints e.g.
# "OpenBSD 2.6-beta (OOF) #4: Tue Oct 12 ..." or "FreeBSD 12.1-RELEASE r354233 GENERIC".
_KERNEL_LINE = re.compile(r"(?m)^((?:Open|Net|Free)BSD) (\d+\.\d+[\w.-]*) [(#rG]")


def _last_line(text: str) -> str:
    """The last line with something on it."""
    for line in reversed(text.replace("\r", "\n").split("\n")):
        if line.strip():
            return line.strip()
    return ""


def is_login_prompt(line: str) -> bool:
    return _LOGIN.search(line) is not None


def is_password_prompt(line: str) -> bool:
    return _PASSWORD.search(line) is not None


def is_shell_prompt(line: str) -> bool:
    return 0 < len(line) <= PROMPT_LINE_MAX and _SHELL.search(line) is not None


def wants(frame: Frame) -> bool:
    """IAC negotiation at the start of a segment, or a short segment ending in a login prompt."""
    if not frame.is_tcp:
        return False
    off = frame.payload_offset
    data = frame.data
    if len(data) >= off + 2 and data[off] == IAC and SB <= data[off + 1] <= DONT:
        return True
    if len(data) - off > 512 or not data[off:].rstrip(b" \r\n\x00").endswith(b":"):
        return False
    line = _last_line(data[off:].decode("latin-1"))
    return is_login_prompt(line) or is_password_prompt(line)


def _strip_iac(state: dict[str, Any], data: bytes) -> bytes:
    """The data bytes of a server segment; records negotiated options in `state`."""
    mode: int = state["mode"]
    if mode == _DATA and IAC not in data:
        return data
    out = bytearray()
    options: list[int] = state["options"]
    for byte in data:
        if mode == _DATA:
            if byte == IAC:
                mode = _IAC
            else:
                out.append(byte)
        elif mode == _IAC:
            if byte == IAC:
                out.append(IAC)  # escaped 0xFF data byte
                mode = _DATA
            elif WILL <= byte <= DONT:
                mode = _OPTION
            elif byte == SB:
                mode = _SB
            else:
                mode = _DATA  # NOP, GA, AYT, ... (two-byte commands)
        elif mode == _OPTION:
            if byte not in options and len(options) < OPTIONS_MAX:
                options.append(byte)
            mode = _DATA
        elif mode == _SB:
            mode = _SB_IAC if byte == IAC else _SB
        else:  # _SB_IAC
            mode = _DATA if byte == SE else _SB
    state["mode"] = mode
    return bytes(out)


def _new_state() -> dict[str, Any]:
    return {
        "mode": _DATA,
        "options": [],
        "text": bytearray(),
        "tail": "",
        "phase": "banner",  # banner → after_login → final
        "scanned": 0,
        "login": False,
        "password": False,
        "shell": False,
        "failed": False,
        "os_banner": None,
        "emitted": None,
        "emitted_len": 0,
    }


def _advance(state: dict[str, Any], data: bytes, ctx: ExtractContext) -> None:
    """Update text and flags with one segment's server data (IAC already stripped)."""
    text = data.decode("utf-8", "replace")
    window = state["tail"] + text
    state["tail"] = window[-LINE_MAX_BYTES:]
    last = _last_line(window)
    if _AUTH_FAILED.search(window):
        state["failed"] = True
    if state["os_banner"] is None and (kernel := _KERNEL_LINE.search(window)) is not None:
        state["os_banner"] = f"{kernel.group(1)} {kernel.group(2)}"
    buf: bytearray = state["text"]
    limit = ctx.text_max_bytes * 2  # raw bytes; cleaning shrinks them
    phase = state["phase"]
    if phase == "banner":
        buf.extend(data[: max(0, limit - len(buf))])
        if _PASSWORD_NOTICE.search(window) or is_password_prompt(last):
            state["password"] = True
            state["phase"] = "final"
        elif is_login_prompt(last):
            state["login"] = True
            state["phase"] = "after_login"
        elif not state["login"] and not state["password"] and is_shell_prompt(last):
            state["shell"] = True
            state["phase"] = "final"
        elif len(buf) >= limit:
            state["phase"] = "final"
    elif phase == "after_login" and (is_password_prompt(last) or _PASSWORD_NOTICE.search(last)):
        # Only this segment's last line: the line before it may hold the echoed user name.
        own = _last_line(text) or last
        state["password"] = True
        buf[:] = buf.rstrip(b" \t")
        buf.extend((" " + own).encode()[: max(0, limit - len(buf))])
        state["phase"] = "final"
    elif phase == "after_login" and is_login_prompt(last) and state["failed"]:
        state["phase"] = "final"  # asked again after a failure: nothing more to learn


def _server_side(frame: Frame) -> bool:
    """True when the frame's sender is the Telnet server (claimed port, else the lower port)."""
    sport, dport = frame.src_port or 0, frame.dst_port or 0
    if sport in TCP_PORTS or dport in TCP_PORTS:
        return sport in TCP_PORTS
    return sport < dport


def extract(frame: Frame, ctx: ExtractContext) -> list[Observation]:
    """An observation when the server side's state changes; [] for client segments."""
    if not frame.is_tcp or not _server_side(frame):
        return []
    key = (NAME, frame.vlan, frame.src_ip, frame.src_port, frame.dst_ip, frame.dst_port)
    has_payload = frame.payload_offset < len(frame.data)
    closing = bool((frame.tcp_flags or 0) & (TCP_FIN | TCP_RST))
    state = ctx.flows.get(key, create=has_payload)
    if state is None:
        return []
    if not state:
        state.update(_new_state())
    if has_payload and state["scanned"] < SCAN_MAX_BYTES:
        payload = frame.payload[: SCAN_MAX_BYTES - state["scanned"]]
        state["scanned"] += len(payload)
        data = _strip_iac(state, payload)
        if data:
            _advance(state, data, ctx)
    signature = (
        bool(state["options"]),
        bool(state["text"]),
        state["phase"] == "final",
        state["login"],
        state["password"],
        state["shell"],
        state["failed"],
        state["os_banner"],
    )
    grew = len(state["text"]) != state["emitted_len"]
    if signature == state["emitted"] and not (closing and grew):
        return []
    if not state["options"] and not state["text"]:
        return []
    state["emitted"] = signature
    state["emitted_len"] = len(state["text"])
    facts = {
        "options": tuple(state["options"]),
        "text": clean_text(bytes(state["text"]), ctx.text_max_bytes),
        "login_prompt": state["login"],
        "password_prompt": state["password"],
        "shell_prompt": state["shell"],
        "auth_failed": state["failed"],
        "port": frame.src_port,
    }
    if state["os_banner"] is not None:
        facts["os_banner"] = clean_text(state["os_banner"], ctx.text_max_bytes)
    return [observe(frame, NAME, Role.SERVER, facts)]
