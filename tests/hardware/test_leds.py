"""Status LEDs: state resolution, blink timing from DESIGN.md, pin sequences on MockFactory."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from hardware.leds import HangGuard, LedError, StatusLeds
from hardware.status import (
    HEARTBEAT,
    PATTERNS,
    Health,
    State,
    active_states,
    flashes,
    level_at,
    period,
    resolve,
)

GREEN, RED, BUTTON = 17, 27, 22
PI4_REVISION = "c03111"  # Raspberry Pi 4 Model B, 4 GB


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    saved = Device.pin_factory
    factory = MockFactory(revision=PI4_REVISION)
    Device.pin_factory = factory
    yield factory
    factory.close()
    Device.pin_factory = saved


def play(
    leds: StatusLeds, clock: FakeClock, seconds: float, step: float = 0.05
) -> list[tuple[bool, bool]]:
    """Tick every `step` seconds (as the main loop does) and sample both pins.

    Samples fall mid-step (half a step after the pattern start), away from segment edges.
    """
    clock.advance(step / 2)
    samples = []
    for _ in range(round(seconds / step)):
        leds.tick()
        samples.append((leds._green.is_lit, leds._red.is_lit))
        clock.advance(step)
    return samples


def rising_edges(levels: list[bool]) -> int:
    return sum(1 for a, b in zip([False, *levels], levels, strict=False) if b and not a)


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (Health(), State.OK),
        (Health(fatal=True, carrier=False), State.FATAL),
        (Health(carrier=False, uplink_up=False), State.NO_CARRIER),
        (Health(rx_idle_s=301), State.NO_PACKETS),
        (Health(rx_idle_s=299), State.OK),
        (Health(provisioned=False, uplink_up=False), State.NOT_PROVISIONED),
        (Health(provisioned=False, provisioning=True), State.PROVISIONING),
        (Health(auth_failed=True, uplink_up=False), State.AUTH_FAILED),
        (Health(storage_fault=True, evicting=True), State.STORAGE),
        (Health(clock_synced=False, clock_unsynced_s=601), State.CLOCK),
        # DESIGN.md: with the WAN down, W is the truth, not the clock state.
        (Health(clock_synced=False, clock_unsynced_s=601, uplink_up=False), State.UPLINK_DOWN),
        (Health(clock_synced=False, clock_unsynced_s=599), State.OK),
        (Health(power_fault=True, uplink_up=False), State.POWER),
        (Health(crash_loop=True), State.CRASH_LOOP),
        (Health(booting=True, carrier=False), State.BOOTING),
        (Health(buffer_fraction=0.81, uplink_up=False), State.BUFFER_HIGH),
        (Health(evicting=True), State.BUFFER_HIGH),
        (Health(buffer_fraction=0.79, uplink_up=False), State.UPLINK_DOWN),
    ],
)
def test_resolve_picks_highest_priority_state(health: Health, expected: State) -> None:
    assert resolve(health) == expected


def test_every_state_has_a_pattern_and_priority_order_matches_design_table() -> None:
    assert [s.value for s in State] == [
        "F", "1", "2", "3", "4", "5", "6", "7", "8", "B", "P", "E", "W", "OK",
    ]  # fmt: skip
    assert set(PATTERNS) == set(State)


def test_heartbeat_is_two_100ms_flashes_every_1_5_s() -> None:
    assert period(HEARTBEAT) == pytest.approx(1.5)
    lit = [level_at(HEARTBEAT, i * 0.01 + 0.005)[0] for i in range(150)]
    assert sum(lit) == 20  # 2 x 100 ms out of 1500 ms, sampled every 10 ms
    assert rising_edges(lit) == 2


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_fault_code_is_n_short_flashes_then_2s_dark(n: int) -> None:
    pattern = flashes(n)
    # DESIGN.md: 200 ms on, 300 ms off, then 2 s dark, repeat.
    assert period(pattern) == pytest.approx(n * 0.5 + 2.0)
    assert [d for lit, d in pattern if lit] == [0.2] * n
    assert pattern[-1] == (False, pytest.approx(2.3))


def test_red_pin_flashes_code_3_on_mock_pi4(mock_factory: MockFactory) -> None:
    clock = FakeClock()
    leds = StatusLeds(GREEN, RED, pin_factory=mock_factory, clock=clock)
    leds.show(State.NOT_PROVISIONED)
    samples = play(leds, clock, seconds=3.5 * 2)  # two full cycles of code 3
    red = [r for _, r in samples]
    green = [g for g, _ in samples]
    assert rising_edges(red) == 6
    assert sum(red) == 2 * 3 * 4  # 200 ms lit = 4 samples of 50 ms, 3 flashes, 2 cycles
    assert rising_edges(green) == round(7.0 / 0.4)  # medium: 200/200 ms
    # The pin itself went through the same changes (gpiozero's MockPin history).
    states = [s.state for s in mock_factory.pin(RED).states]
    assert rising_edges(states) == 6
    leds.close()


def test_state_change_shows_on_next_tick_and_restarts_pattern(mock_factory: MockFactory) -> None:
    clock = FakeClock()
    leds = StatusLeds(GREEN, RED, pin_factory=mock_factory, clock=clock)
    leds.show(State.OK)
    play(leds, clock, seconds=1.0)
    leds.show(State.STORAGE)
    leds.tick()
    assert leds._red.is_lit  # first flash of code 5 starts at once
    leds.close()


def test_hung_daemon_goes_dark_within_2s(mock_factory: MockFactory) -> None:
    clock = FakeClock()
    leds = StatusLeds(GREEN, RED, pin_factory=mock_factory, clock=clock)
    leds.show(State.FATAL)  # red steady
    leds.tick()
    assert leds._red.is_lit
    clock.advance(1.9)
    assert not leds.check_hang() and leds._red.is_lit
    clock.advance(0.2)  # 2.1 s without a tick
    assert leds.check_hang()
    assert not leds._red.is_lit and not leds._green.is_lit
    leds.close()


def test_hang_guard_thread_stops_cleanly(mock_factory: MockFactory) -> None:
    leds = StatusLeds(GREEN, RED, pin_factory=mock_factory)
    guard = HangGuard(leds, interval_s=0.01)
    guard.start()
    guard.stop()
    guard.stop()  # idempotent
    leds.close()


def test_button_runs_lamp_test_then_each_active_code(mock_factory: MockFactory) -> None:
    clock = FakeClock()
    leds = StatusLeds(GREEN, RED, button_pin=BUTTON, pin_factory=mock_factory, clock=clock)
    health = Health(carrier=False, storage_fault=True)
    leds.show(resolve(health), active_states(health))
    mock_factory.pin(BUTTON).drive_low()  # pressed (pull-up button)
    leds.tick()
    assert leds._green.is_lit and leds._red.is_lit  # lamp test
    clock.advance(1.0)
    samples = play(leds, clock, seconds=2.5 + 4.5)  # code 1 once, then code 5 once
    red = [r for _, r in samples]
    assert rising_edges(red) == 1 + 5
    leds.close()


class _NoBoardFactory(MockFactory):
    """A pin factory on a board gpiozero cannot identify, as lgpio's factory behaves when
    /proc/device-tree and /proc/cpuinfo are unreadable (seen under qemu-system-aarch64, and
    on a Pi whose unit hid them with ProcSubset=pid)."""

    def pin(self, name: object, **kwargs: object) -> object:
        raise FileNotFoundError(2, "No such file or directory", "/proc/cpuinfo")


@pytest.mark.parametrize("error", [FileNotFoundError, ImportError])
def test_a_pin_factory_that_cannot_find_the_board_is_a_led_error(error: type) -> None:
    factory = _NoBoardFactory()
    if error is ImportError:
        factory.pin = lambda *a, **k: (_ for _ in ()).throw(ImportError("no lgpio"))  # type: ignore[method-assign]
    with pytest.raises(LedError, match="cannot open status LED pins 17/27"):
        StatusLeds(17, 27, pin_factory=factory)
    factory.close()


def test_the_sensor_runs_without_leds_when_the_board_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """firmware.run turns a LedError into 'no LEDs' (a warning), never a failed start."""
    from firmware import run as run_module
    from firmware.config import Config

    factory = _NoBoardFactory()
    monkeypatch.setattr(Device, "pin_factory", factory)
    assert run_module._build_leds(Config()) is None
    factory.close()


def test_lgpio_error_is_a_led_error_once_gpiozero_has_loaded_lgpio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """lgpio.gpiochip_open raises lgpio.error, a bare Exception subclass (no /dev/gpiochip0)."""
    import types

    class LgpioError(Exception):
        pass

    fake = types.ModuleType("lgpio")
    fake.error = LgpioError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lgpio", fake)
    factory = _NoBoardFactory()
    factory.pin = lambda *a, **k: (_ for _ in ()).throw(LgpioError("can not open gpiochip"))  # type: ignore[method-assign]
    with pytest.raises(LedError, match="can not open gpiochip"):
        StatusLeds(17, 27, pin_factory=factory)
    factory.close()
