"""ApplianceStatus: which field-diagnostic state the appliance is in, and its LED pattern.

Pure functions only (no GPIO, no clock): component health in, one state out, and the state's
blink patterns. hardware/leds.py plays the patterns on the pins. The table follows
../shared/DESIGN.md "Status LEDs" and is documented for technicians in docs/leds.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Appliance states, highest priority first. The value is the code the uplink reports."""

    FATAL = "F"
    NO_CARRIER = "1"
    NO_PACKETS = "2"
    NOT_PROVISIONED = "3"
    AUTH_FAILED = "4"
    STORAGE = "5"
    CLOCK = "6"
    POWER = "7"
    CRASH_LOOP = "8"
    BOOTING = "B"
    PROVISIONING = "P"
    BUFFER_HIGH = "E"
    UPLINK_DOWN = "W"
    OK = "OK"


# Priority order: the first state whose condition holds is shown.
PRIORITY: tuple[State, ...] = tuple(State)

# Words for `branchwatch status` / `diag`: (what it means, what the technician does).
ADVICE: dict[State, tuple[str, str]] = {
    State.FATAL: ("fatal: the sensor cannot start", "re-flash the SD card"),
    State.NO_CARRIER: ("no carrier on the capture port", "check the mirror cable"),
    State.NO_PACKETS: (
        "link up but no packets for more than 5 minutes",
        "check the switch's mirror (SPAN) configuration",
    ),
    State.NOT_PROVISIONED: ("not provisioned", "insert the site bundle (site.toml)"),
    State.AUTH_FAILED: (
        "enrolment or uplink authentication failed",
        "check the enrolment token, the clock and the certificate",
    ),
    State.STORAGE: ("storage full, read-only or failing", "replace the SD card"),
    State.CLOCK: ("clock not synchronised for more than 10 minutes", "allow NTP to the internet"),
    State.POWER: (
        "under-voltage, throttled or too hot",
        "use the official power supply; improve ventilation",
    ),
    State.CRASH_LOOP: ("the sensor keeps crashing", "escalate to support"),
    State.BOOTING: ("booting", "wait"),
    State.PROVISIONING: ("first-boot provisioning", "wait; do not unplug"),
    State.BUFFER_HIGH: (
        "upload buffer above 80% or evicting old data",
        "restore the WAN link soon",
    ),
    State.UPLINK_DOWN: ("capturing; uplink down, buffering to the SD card", "check the WAN"),
    State.OK: ("capturing; uplink healthy", "nothing"),
}

NO_PACKETS_AFTER_S = 300.0
CLOCK_UNSYNCED_AFTER_S = 600.0
BUFFER_HIGH_FRACTION = 0.8


@dataclass(frozen=True, slots=True)
class Health:
    """Component health as the daemon measures it. Defaults describe a healthy sensor."""

    fatal: bool = False
    crash_loop: bool = False
    booting: bool = False
    provisioning: bool = False
    provisioned: bool = True
    carrier: bool = True
    # Seconds since the capture interface's receive counter last grew (rx_packets, not
    # what passed the filter).
    rx_idle_s: float = 0.0
    auth_failed: bool = False
    storage_fault: bool = False
    clock_synced: bool = True
    clock_unsynced_s: float = 0.0
    power_fault: bool = False
    uplink_up: bool = True
    buffer_fraction: float = 0.0
    evicting: bool = False


def resolve(health: Health) -> State:
    """The one state to show: the highest-priority condition that holds."""
    for state in PRIORITY:
        if _holds(state, health):
            return state
    return State.OK  # pragma: no cover - OK always holds


def _holds(state: State, h: Health) -> bool:
    conditions = {
        State.FATAL: h.fatal,
        State.NO_CARRIER: not h.carrier and not h.booting,
        State.NO_PACKETS: h.carrier and h.rx_idle_s > NO_PACKETS_AFTER_S,
        State.NOT_PROVISIONED: not h.provisioned and not h.provisioning,
        State.AUTH_FAILED: h.auth_failed,
        State.STORAGE: h.storage_fault,
        # DESIGN.md: state 6 shows only while the uplink is up (with the WAN down, W is the truth).
        State.CLOCK: h.uplink_up
        and not h.clock_synced
        and h.clock_unsynced_s > CLOCK_UNSYNCED_AFTER_S,
        State.POWER: h.power_fault,
        State.CRASH_LOOP: h.crash_loop,
        State.BOOTING: h.booting,
        State.PROVISIONING: h.provisioning,
        State.BUFFER_HIGH: h.evicting or h.buffer_fraction > BUFFER_HIGH_FRACTION,
        State.UPLINK_DOWN: not h.uplink_up,
        State.OK: True,
    }
    return conditions[state]


# A pattern is a cycle of (lit, duration_s) segments; a single segment is steady.
Pattern = tuple[tuple[bool, float], ...]

OFF: Pattern = ((False, 1.0),)
STEADY: Pattern = ((True, 1.0),)
FAST: Pattern = ((True, 0.1), (False, 0.1))
MEDIUM: Pattern = ((True, 0.2), (False, 0.2))
SLOW: Pattern = ((True, 1.0), (False, 1.0))
# Two 100 ms flashes every 1.5 s.
HEARTBEAT: Pattern = ((True, 0.1), (False, 0.1), (True, 0.1), (False, 1.2))
# Red "1 long": 1 s on, then the same 2 s dark as the numbered codes.
LONG: Pattern = ((True, 1.0), (False, 2.0))


def flashes(n: int) -> Pattern:
    """Red fault code N: N short flashes (200 ms on, 300 ms off), then 2 s dark, repeat."""
    if n < 1:
        raise ValueError("a fault code has at least one flash")
    body: list[tuple[bool, float]] = []
    for _ in range(n):
        body += [(True, 0.2), (False, 0.3)]
    body[-1] = (False, 0.3 + 2.0)
    return tuple(body)


# state -> (green, red), from the DESIGN.md table.
PATTERNS: dict[State, tuple[Pattern, Pattern]] = {
    State.FATAL: (OFF, STEADY),
    State.NO_CARRIER: (HEARTBEAT, flashes(1)),
    State.NO_PACKETS: (HEARTBEAT, flashes(2)),
    State.NOT_PROVISIONED: (MEDIUM, flashes(3)),
    State.AUTH_FAILED: (SLOW, flashes(4)),
    State.STORAGE: (HEARTBEAT, flashes(5)),
    State.CLOCK: (HEARTBEAT, flashes(6)),
    State.POWER: (HEARTBEAT, flashes(7)),
    State.CRASH_LOOP: (OFF, flashes(8)),
    State.BOOTING: (FAST, OFF),
    State.PROVISIONING: (MEDIUM, OFF),
    State.BUFFER_HIGH: (SLOW, LONG),
    State.UPLINK_DOWN: (SLOW, OFF),
    State.OK: (HEARTBEAT, OFF),
}


def period(pattern: Pattern) -> float:
    return sum(duration for _, duration in pattern)


def level_at(pattern: Pattern, elapsed_s: float) -> tuple[bool, float]:
    """Whether the LED is lit `elapsed_s` into the pattern, and seconds until the next change.

    A steady or dark pattern (one segment) never changes: the second value is its period.
    """
    if len(pattern) == 1:
        return pattern[0][0], pattern[0][1]
    t = elapsed_s % period(pattern)
    for lit, duration in pattern:
        if t < duration:
            return lit, duration - t
        t -= duration
    return pattern[-1][0], 0.0  # float rounding at the very end of the cycle


def active_states(health: Health) -> list[State]:
    """Every state whose condition holds, highest priority first (OK last, always present)."""
    return [state for state in PRIORITY if _holds(state, health)]
