"""Supervisor: runs the daemon's workers in named threads, restarts a failed one with backoff,
and gives up (fault state) after repeated failures in a window.

A worker is a callable `run(stop: threading.Event, beat: Callable[[], None]) -> None` that
returns when `stop` is set and calls `beat()` whenever it makes progress. The daemon pings
the systemd watchdog only while every worker has beaten recently (`all_progressing`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

WorkerFn = Callable[[threading.Event, Callable[[], None]], None]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    backoff_min_s: float = 1.0
    backoff_max_s: float = 60.0
    max_failures: int = 5
    window_s: float = 600.0


class Worker:
    """One supervised thread."""

    def __init__(
        self,
        name: str,
        fn: WorkerFn,
        policy: RestartPolicy,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._fn = fn
        self._policy = policy
        self._stop = stop
        self._clock = clock
        self._failures: deque[float] = deque()
        self.restarts = 0
        self.gave_up = False
        self.last_beat = clock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        self.last_beat = self._clock()

    def join(self, timeout_s: float) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        backoff = self._policy.backoff_min_s
        while not self._stop.is_set():
            self.beat()
            try:
                self._fn(self._stop, self.beat)
            except Exception:  # loop boundary: a worker crash is logged, counted, restarted
                log.exception("worker %s failed", self.name)
                if self._record_failure():
                    log.error(
                        "worker %s failed %d times in %.0f s: giving up",
                        self.name,
                        self._policy.max_failures,
                        self._policy.window_s,
                    )
                    self.gave_up = True
                    return
                delay = backoff * (0.5 + random.random() / 2)  # jitter
                backoff = min(backoff * 2, self._policy.backoff_max_s)
                self.restarts += 1
                if self._stop.wait(delay):
                    return
                continue
            return  # a clean return ends the worker (it saw stop, or has nothing more to do)

    def _record_failure(self) -> bool:
        now = self._clock()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self._policy.window_s:
            self._failures.popleft()
        return len(self._failures) >= self._policy.max_failures


class Supervisor:
    """Starts workers, reports their progress, stops them all within a budget."""

    def __init__(
        self, policy: RestartPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.stop_event = threading.Event()
        self._clock = clock
        self.workers: dict[str, Worker] = {}

    def add(self, name: str, fn: WorkerFn) -> Worker:
        worker = Worker(name, fn, self.policy, self.stop_event, self._clock)
        self.workers[name] = worker
        return worker

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    @property
    def gave_up(self) -> list[str]:
        return [name for name, w in self.workers.items() if w.gave_up]

    def all_progressing(self, within_s: float) -> bool:
        """True when every worker is alive and beat within `within_s` (watchdog gate)."""
        now = self._clock()
        return all(w.alive and now - w.last_beat <= within_s for w in self.workers.values())

    def stop(self, timeout_s: float = 5.0) -> list[str]:
        """Signal every worker and join them; returns the names still running. Idempotent."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        stuck = []
        for name, worker in self.workers.items():
            if not worker.join(max(0.0, deadline - time.monotonic())):
                stuck.append(name)
        return stuck
