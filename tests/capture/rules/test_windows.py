"""The bounded, time-windowed counting structures of the detectors."""

from __future__ import annotations

from capture.rules.windows import DistinctWindow, FailureWindow, SourceTable, Tallies, Tally


def test_distinct_window_counts_each_target_once_and_expires_old_ones() -> None:
    window = DistinctWindow(window_s=10.0, max_items=100)
    assert window.add("a", 0.0) is True
    assert window.add("a", 1.0) is False  # refreshed, not new
    assert window.add("b", 2.0) is True
    assert len(window) == 2
    window.expire(11.5)  # "a" last seen at 1.0 is older than 11.5 - 10
    assert window.targets() == ["b"]


def test_distinct_window_is_capped_and_counts_evictions() -> None:
    window = DistinctWindow(window_s=1000.0, max_items=3)
    for i in range(5):
        window.add(i, float(i))
    assert len(window) == 3
    assert window.targets() == [2, 3, 4]
    assert window.evicted == 2


def test_distinct_window_discard_removes_an_answered_target() -> None:
    window = DistinctWindow(window_s=10.0, max_items=10)
    window.add(80, 0.0)
    window.add(443, 0.1)
    window.discard(80)
    window.discard(9999)  # unknown: no error
    assert window.targets() == [443]


def test_failure_window_needs_threshold_events_inside_the_window() -> None:
    window = FailureWindow(threshold=3, window_s=10.0)
    assert [window.add(t) for t in (0.0, 5.0)] == [False, False]
    assert window.add(9.0) is True
    assert window.add(30.0) is False  # 5.0, 9.0, 30.0 span 25 s
    assert window.in_window(30.0) == 1


def test_source_table_evicts_least_recently_used_and_counts_drops() -> None:
    table: SourceTable[str, list[int]] = SourceTable(max_sources=2)
    table.setdefault("a", list)
    table.setdefault("b", list)
    table.get("a")  # refresh a: b is now least recently used
    table.setdefault("c", list)
    assert "b" not in table and "a" in table and "c" in table
    assert table.dropped == 1


def test_source_table_prune_stops_at_the_first_active_key() -> None:
    table: SourceTable[str, float] = SourceTable(max_sources=10)
    for key, at in (("old1", 1.0), ("old2", 2.0), ("new", 50.0), ("old3", 3.0)):
        table.setdefault(key, lambda at=at: at)
    removed = table.prune(lambda at: at < 10.0, budget=10)
    assert removed == 2  # old3 sits behind an active key: left for a later prune
    assert [k for k, _ in table.items()] == ["new", "old3"]


def test_tally_counts_distinct_targets_exactly_up_to_its_bound() -> None:
    tally = Tally(max_items=2)
    assert [tally.add(t) for t in ("a", "a", "b")] == [1, 0, 1]
    assert tally.add("c") == 1  # beyond the bound: counted, not remembered
    assert tally.add("c") == 1
    assert tally.count == 4


def test_tallies_seed_from_the_window_then_count_new_targets() -> None:
    window = DistinctWindow(window_s=100.0, max_items=100)
    for port in (1, 2, 3):
        window.add(port, 0.0)
    tallies: Tallies[str] = Tallies(max_alerts=1, max_targets=100)
    assert tallies.update("scanner", 3, window) == 3
    assert tallies.update("scanner", 3, window) == 0
    assert tallies.update("scanner", 4, window) == 1
    tallies.update("other", 1, window)  # evicts "scanner"
    assert tallies.dropped == 1
