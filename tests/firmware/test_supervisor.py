"""Supervisor: restart with backoff, give up after repeated failures, progress gate."""

from __future__ import annotations

import threading
from collections.abc import Callable

from firmware.supervisor import RestartPolicy, Supervisor

FAST = RestartPolicy(backoff_min_s=0.001, backoff_max_s=0.002, max_failures=3, window_s=60.0)


def test_failed_worker_is_restarted_then_given_up_after_max_failures() -> None:
    calls = []

    def crash(stop: threading.Event, beat: Callable[[], None]) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    sup = Supervisor(FAST)
    worker = sup.add("crasher", crash)
    sup.start()
    assert worker.join(5.0)
    assert worker.gave_up and sup.gave_up == ["crasher"]
    assert len(calls) == 3 and worker.restarts == 2
    assert sup.stop() == []


def test_worker_recovering_after_one_crash_keeps_running() -> None:
    attempts = []
    running = threading.Event()

    def flaky(stop: threading.Event, beat: Callable[[], None]) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("transient")
        running.set()
        while not stop.wait(0.001):
            beat()

    sup = Supervisor(FAST)
    worker = sup.add("flaky", flaky)
    sup.start()
    assert running.wait(5.0)
    assert not worker.gave_up and worker.restarts == 1
    assert sup.all_progressing(within_s=5.0)
    assert sup.stop() == []
    assert sup.stop() == []  # idempotent


def test_watchdog_gate_closes_when_a_worker_stops_beating() -> None:
    now = [100.0]
    hung = threading.Event()

    def stuck(stop: threading.Event, beat: Callable[[], None]) -> None:
        hung.set()
        stop.wait()  # never beats again

    sup = Supervisor(FAST, clock=lambda: now[0])
    sup.add("stuck", stuck)
    sup.start()
    assert hung.wait(5.0)
    assert sup.all_progressing(within_s=10.0)
    now[0] += 11.0
    assert not sup.all_progressing(within_s=10.0)
    assert sup.stop() == []
