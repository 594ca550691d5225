"""StatusLeds: plays ApplianceStatus patterns on two GPIO LEDs (gpiozero lives here only).

The daemon's main loop calls `tick()` only after a passed health check; nothing here blinks on
its own. A dead-man guard turns both LEDs dark when ticks stop for `hang_dark_s` (2 s), so a
hung daemon goes dark instead of freezing an "OK" heartbeat. The guard only ever switches
LEDs off. States F and 8 (daemon not running) are shown by the `branchwatch-fault` unit,
started through OnFailure=, which runs `branchwatch leds --state 8`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from gpiozero import LED, Button
from gpiozero.exc import GPIOZeroError

from hardware.status import PATTERNS, Pattern, State, level_at

log = logging.getLogger(__name__)


def _factory_errors() -> tuple[type[BaseException], ...]:
    """What opening a pin can raise besides GPIOZeroError when the pin factory cannot find the
    board: gpiozero reads the board revision from /proc/device-tree or /proc/cpuinfo (OSError),
    lgpio.gpiochip_open raises lgpio.error (a bare Exception subclass), a factory that cannot
    be imported raises ImportError. The LEDs are optional: the sensor runs without them (seen
    booting the image under qemu-system-aarch64, which has no Pi board revision).

    lgpio is looked up only once gpiozero has imported it (an except clause is evaluated when
    an exception reaches it). Importing it here, for every user of this module, made the test
    runs of tests/hardware under qemu-user (image-check) crash at interpreter exit after all
    tests had passed; a plain `import lgpio` there exits cleanly.
    """
    lgpio = sys.modules.get("lgpio")
    error = getattr(lgpio, "error", None)
    extra = (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()
    return (GPIOZeroError, OSError, ImportError, *extra)


HANG_DARK_S = 2.0
LAMP_TEST_S = 1.0


class LedError(RuntimeError):
    """The LED pins could not be opened (wrong pin, no GPIO chip, in use)."""


class StatusLeds:
    """Green and red status LEDs (and an optional button) on BCM pin numbers.

    Args:
        green_pin, red_pin: BCM GPIO numbers.
        button_pin: BCM GPIO of an optional push button (0 = none). Pressing it runs a lamp
            test (both LEDs lit for 1 s) then plays every active state's red code once.
        pin_factory: gpiozero pin factory (MockFactory in tests); None = gpiozero's default.
        clock: monotonic clock, injected in tests.
        hang_dark_s: darkness after this long without a tick.
    """

    def __init__(
        self,
        green_pin: int,
        red_pin: int,
        *,
        button_pin: int = 0,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
        hang_dark_s: float = HANG_DARK_S,
    ) -> None:
        try:
            self._green = LED(green_pin, pin_factory=pin_factory)
            self._red = LED(red_pin, pin_factory=pin_factory)
            self._button = Button(button_pin, pin_factory=pin_factory) if button_pin else None
        except _factory_errors() as exc:
            raise LedError(f"cannot open status LED pins {green_pin}/{red_pin}: {exc}") from exc
        self._clock = clock
        self._hang_dark_s = hang_dark_s
        self._lock = threading.Lock()
        self._state = State.BOOTING
        self._started_at = clock()
        self._last_tick: float | None = None
        self._sequence: list[tuple[Pattern, Pattern, float]] = []  # button playback queue
        self._sequence_started_at = 0.0
        self._active: list[State] = [State.BOOTING]
        if self._button is not None:
            self._button.when_pressed = self._on_button

    @property
    def state(self) -> State:
        return self._state

    def show(self, state: State, active: list[State] | None = None) -> None:
        """Select the state to display. A change restarts the pattern from its beginning."""
        with self._lock:
            if state != self._state:
                log.info("status LEDs: %s -> %s", self._state, state)
                self._state = state
                self._started_at = self._clock()
            self._active = list(active) if active is not None else [state]

    def tick(self) -> None:
        """Drive the pins for the current instant. Call only after a passed health check."""
        with self._lock:
            now = self._clock()
            self._last_tick = now
            green, red = self._patterns(now)
            elapsed = now - (self._sequence_started_at if self._sequence else self._started_at)
            self._set(self._green, level_at(green, elapsed)[0])
            self._set(self._red, level_at(red, elapsed)[0])

    def check_hang(self) -> bool:
        """Dead-man check: go dark if no tick for hang_dark_s. Returns True when dark."""
        with self._lock:
            now = self._clock()
            if self._last_tick is None or now - self._last_tick <= self._hang_dark_s:
                return False
            self._set(self._green, False)
            self._set(self._red, False)
            return True

    def press(self) -> None:
        """What the button does (also callable from `branchwatch leds --test`)."""
        self._on_button()

    def off(self) -> None:
        with self._lock:
            self._set(self._green, False)
            self._set(self._red, False)

    def close(self) -> None:
        self.off()
        for device in (self._green, self._red, self._button):
            if device is not None:
                device.close()

    def _on_button(self) -> None:
        with self._lock:
            lamp: Pattern = ((True, LAMP_TEST_S),)
            queue = [(lamp, lamp, LAMP_TEST_S)]
            for state in self._active:
                _, red = PATTERNS[state]
                if any(lit for lit, _ in red):
                    queue.append((((False, 1.0),), red, sum(d for _, d in red)))
            self._sequence = queue
            self._sequence_started_at = self._clock()

    def _patterns(self, now: float) -> tuple[Pattern, Pattern]:
        while self._sequence:
            green, red, length = self._sequence[0]
            if now - self._sequence_started_at < length:
                return green, red
            self._sequence.pop(0)
            self._sequence_started_at += length
        return PATTERNS[self._state]

    @staticmethod
    def _set(led: LED, lit: bool) -> None:
        if bool(led.value) != lit:
            led.value = lit


class HangGuard:
    """Named thread that runs StatusLeds.check_hang every `interval_s`; only ever darkens."""

    def __init__(self, leds: StatusLeds, interval_s: float = 0.25) -> None:
        self._leds = leds
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="led-hang-guard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._leds.check_hang()
