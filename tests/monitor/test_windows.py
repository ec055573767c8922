from __future__ import annotations

import pytest

from services.monitor.sketch import LogHistogram
from services.monitor.windows import SlidingWindows, label_key


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def windows(clock: FakeClock) -> SlidingWindows:
    return SlidingWindows(clock, slot_s=5.0, retention_s=900.0)


def test_label_key_ignores_order():
    assert label_key({"a": "1", "b": "2"}) == label_key({"b": "2", "a": "1"})


def test_windows_of_60_300_900_seconds_differ(clock, windows):
    # One request per minute for 15 minutes, each with its own latency.
    for minute in range(15):
        windows.add_counter("requests_total", {"outcome": "ok"}, 1)
        windows.add_histogram("request_ms", {}, LogHistogram.of([100.0 * (minute + 1)]))
        clock.advance(60)
    clock.advance(-1)  # the last sample is 59 s old
    assert windows.counter("requests_total", 60) == 1
    assert windows.counter("requests_total", 300) == 5
    assert windows.counter("requests_total", 900) == 15
    assert windows.histogram("request_ms", 60).max == 1_500.0
    assert windows.histogram("request_ms", 300).count == 5
    assert windows.histogram("request_ms", 900).count == 15


def test_slots_expire_after_retention(clock, windows):
    windows.add_counter("requests_total", {}, 3)
    windows.add_histogram("request_ms", {}, LogHistogram.of([5.0]))
    clock.advance(899)
    assert windows.counter("requests_total", 900) == 3
    clock.advance(10)
    assert windows.counter("requests_total", 900) == 0
    assert windows.histogram("request_ms", 900).is_empty


def test_window_longer_than_retention_is_clamped(clock, windows):
    windows.add_counter("c", {}, 1)
    clock.advance(600)
    windows.add_counter("c", {}, 1)
    assert windows.counter("c", 10_000) == 2


def test_label_filter_and_grouping(windows):
    windows.add_counter("cache_tier_total", {"tier": "near", "result": "hit"}, 8)
    windows.add_counter("cache_tier_total", {"tier": "near", "result": "miss"}, 2)
    windows.add_counter("cache_tier_total", {"tier": "redis", "result": "hit"}, 1)
    windows.add_counter("other_total", {"tier": "near"}, 100)
    assert windows.counter("cache_tier_total", 60) == 11
    assert windows.counter("cache_tier_total", 60, {"result": "hit"}) == 9
    assert windows.counter_by("cache_tier_total", "tier", 60) == {"near": 10, "redis": 1}
    assert windows.counter_by("cache_tier_total", "tier", 60, {"result": "miss"}) == {"near": 2}


def test_histograms_merge_across_label_sets_and_group_by_label(windows):
    windows.add_histogram("step_ms", {"step": "analysis"}, LogHistogram.of([10.0, 20.0]))
    windows.add_histogram("step_ms", {"step": "total"}, LogHistogram.of([50.0]))
    windows.add_histogram("step_ms", {"step": "analysis"}, LogHistogram.of([30.0]))
    windows.add_histogram("step_ms", {}, LogHistogram.of([1.0]))
    assert windows.histogram("step_ms", 60).count == 5
    assert windows.histogram("step_ms", 60, {"step": "analysis"}).count == 3
    grouped = windows.histograms_by("step_ms", "step", 60)
    assert {step: h.count for step, h in grouped.items()} == {"analysis": 3, "total": 1}
    assert grouped["analysis"].max == 30.0


def test_added_histogram_is_copied(windows):
    histogram = LogHistogram.of([1.0])
    windows.add_histogram("h", {}, histogram)
    histogram.add(2.0)
    windows.add_histogram("h", {}, histogram)
    assert windows.histogram("h", 60).count == 3


def test_late_reports_land_in_their_slot_and_future_ones_now(clock, windows):
    windows.add_counter("c", {}, 1, at=clock.now - 200)
    windows.add_counter("c", {}, 1, at=clock.now + 500)
    windows.add_counter("c", {}, 1, at=clock.now - 5_000)  # past retention: dropped
    assert windows.counter("c", 60) == 1
    assert windows.counter("c", 300) == 2
    assert windows.counter("c", 900) == 2


def test_series_per_slot_are_bounded(clock):
    windows = SlidingWindows(clock, max_series_per_slot=3)
    for i in range(5):
        windows.add_counter("c", {"n": str(i)}, 1)
    windows.add_counter("c", {"n": "0"}, 1)  # an existing series still counts
    assert windows.counter("c", 60) == 4
    assert windows.dropped_series == 2


def test_slot_count_is_bounded(clock, windows):
    for _ in range(1_000):
        windows.add_counter("c", {}, 1)
        clock.advance(5)
    assert len(windows._slots) <= 180


def test_clock_stepping_back_drops_future_slots(clock, windows):
    windows.add_counter("c", {}, 1)
    clock.advance(-3_600)
    windows.add_counter("c", {}, 1)
    assert windows.counter("c", 900) == 1
    assert len(windows._slots) == 1


def test_rejects_a_retention_shorter_than_a_slot(clock):
    with pytest.raises(ValueError):
        SlidingWindows(clock, slot_s=10, retention_s=5)
