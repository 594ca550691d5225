"""Fixed-size time-windowed counting structures for the detectors.

Every structure here is bounded whatever the traffic: a DistinctWindow holds at most
`max_items` targets, a FailureWindow at most `threshold` timestamps, a SourceTable at most
`max_sources` keys (least recently used evicted, evictions counted). Work per packet is
constant (amortised: each entry is inserted and expired once).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class DistinctWindow:
    """Distinct targets seen in the last `window_s` seconds, oldest first, capped.

    A target is refreshed when seen again; one answered by the peer can be discarded (a probe
    that got a SYN-ACK is a connection, not a scan). When full, the oldest target is evicted
    and counted in `evicted`: the count saturates at `max_items`, which callers set at or
    above their threshold.
    """

    __slots__ = ("_seen", "evicted", "max_items", "window_s")

    def __init__(self, window_s: float, max_items: int) -> None:
        self.window_s = window_s
        self.max_items = max(1, max_items)
        self.evicted = 0
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def add(self, target: Hashable, at: float) -> bool:
        """Record `target` at `at`; returns True when it was not already in the window."""
        self.expire(at)
        seen = self._seen
        is_new = target not in seen
        seen[target] = at
        seen.move_to_end(target)
        if len(seen) > self.max_items:
            seen.popitem(last=False)
            self.evicted += 1
        return is_new

    def discard(self, target: Hashable) -> None:
        self._seen.pop(target, None)

    def expire(self, now: float) -> None:
        """Drop targets last seen before now - window_s."""
        seen = self._seen
        horizon = now - self.window_s
        while seen:
            first = next(iter(seen.values()))
            if first >= horizon:
                break
            seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, target: Hashable) -> bool:
        return target in self._seen

    def targets(self) -> list[Hashable]:
        """The targets in the window, oldest first."""
        return list(self._seen)

    @property
    def newest_at(self) -> float | None:
        if not self._seen:
            return None
        return next(reversed(self._seen.values()))

    @property
    def oldest_at(self) -> float | None:
        """When the oldest target in the window was last seen."""
        if not self._seen:
            return None
        return next(iter(self._seen.values()))


class FailureWindow:
    """Whether `threshold` events happened within `window_s`: the last `threshold` times only."""

    __slots__ = ("_times", "threshold", "window_s")

    def __init__(self, threshold: int, window_s: float) -> None:
        self.threshold = max(1, threshold)
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=self.threshold)

    def add(self, at: float) -> bool:
        """Record one event; True when the last `threshold` events fit in the window."""
        self._times.append(at)
        return len(self._times) == self.threshold and at - self._times[0] <= self.window_s

    def in_window(self, now: float) -> int:
        """How many of the kept events are within the window ending at `now`."""
        horizon = now - self.window_s
        return sum(1 for t in self._times if t >= horizon)

    @property
    def newest_at(self) -> float | None:
        return self._times[-1] if self._times else None


class SourceTable(Generic[K, V]):
    """Per-key state, at most `max_sources` keys; the least recently used key is evicted.

    `dropped` counts evictions (the engine reports it as dropped[<name>]).
    """

    __slots__ = ("_items", "dropped", "max_sources")

    def __init__(self, max_sources: int) -> None:
        self.max_sources = max(1, max_sources)
        self.dropped = 0
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def peek(self, key: K) -> V | None:
        """The state of `key` without refreshing its recency."""
        return self._items.get(key)

    def setdefault(self, key: K, factory: Callable[[], V]) -> V:
        """The state of `key`, created by `factory` when absent (evicting the LRU key)."""
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
            return item
        item = factory()
        self._items[key] = item
        if len(self._items) > self.max_sources:
            self._items.popitem(last=False)
            self.dropped += 1
        return item

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def prune(self, is_idle: Callable[[V], bool], budget: int) -> int:
        """Remove up to `budget` idle keys, least recently used first; returns how many.

        Stops at the first key that is not idle: later keys were used more recently.
        """
        removed = 0
        while self._items and removed < budget:
            key, item = next(iter(self._items.items()))
            if not is_idle(item):
                break
            del self._items[key]
            removed += 1
        return removed

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._items.items()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class Tally:
    """Distinct targets of one alert since it opened: exact up to `max_items`, then each
    target new to the window is counted again (the count becomes an upper estimate)."""

    __slots__ = ("_seen", "count", "max_items")

    def __init__(self, max_items: int) -> None:
        self.max_items = max(1, max_items)
        self.count = 0
        self._seen: set[Hashable] = set()

    def add(self, target: Hashable) -> int:
        """Count `target`; returns the increment (0 when it was already counted)."""
        if target in self._seen:
            return 0
        if len(self._seen) < self.max_items:
            self._seen.add(target)
        self.count += 1
        return 1


class Tallies(Generic[K]):
    """The tallies of the alerts a rule has open, at most `max_alerts` (LRU evicted, counted)."""

    __slots__ = ("_table", "max_targets")

    def __init__(self, max_alerts: int, max_targets: int) -> None:
        self._table: SourceTable[K, Tally] = SourceTable(max_alerts)
        self.max_targets = max_targets

    def update(self, key: K, target: Hashable, window: DistinctWindow) -> int:
        """Count `target` for the alert of `key`; the first call also counts the window.

        Returns the increment of the alert's count.
        """
        tally = self._table.get(key)
        if tally is None:
            tally = self._table.setdefault(key, lambda: Tally(self.max_targets))
            return sum(tally.add(t) for t in window.targets())
        return tally.add(target)

    def end(self, key: K) -> None:
        """The window of `key` fell below the threshold: its next alert starts a new tally."""
        self._table.pop(key)

    @property
    def dropped(self) -> int:
        return self._table.dropped
