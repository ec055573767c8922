"""Sliding windows of histograms and counter sums, kept in fixed time slots.

Each slot (default 5 s) holds, per series (metric name + label set), one merged
``LogHistogram`` or one counter sum. A window of ``w`` seconds is the merge of the
newest ``ceil(w / slot_s)`` slots, the current (partial) one included, so a window
covers between ``w - slot_s`` and ``w`` seconds of data. Slots older than the
retention (default 900 s, the longest window) are dropped on every call.

Memory is bounded: at most ``retention_s / slot_s`` slots, each with at most
``max_series_per_slot`` series (new series beyond that are dropped and counted in
``dropped_series``), each histogram bounded by its value range (see sketch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from services.monitor.sketch import LogHistogram

__all__ = ["LabelKey", "Labels", "SeriesKey", "SlidingWindows", "label_key"]

Labels = Mapping[str, str]
LabelKey = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, LabelKey]


def label_key(labels: Labels) -> LabelKey:
    """A hashable, order-independent form of a label set."""
    return tuple(sorted(labels.items()))


def _matches(key: LabelKey, label_filter: Labels | None) -> bool:
    if not label_filter:
        return True
    present = dict(key)
    return all(present.get(name) == value for name, value in label_filter.items())


@dataclass
class _Slot:
    histograms: dict[SeriesKey, LogHistogram] = field(default_factory=dict)
    counters: dict[SeriesKey, float] = field(default_factory=dict)

    @property
    def series(self) -> int:
        return len(self.histograms) + len(self.counters)


class SlidingWindows:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        slot_s: float = 5.0,
        retention_s: float = 900.0,
        max_series_per_slot: int = 5_000,
    ) -> None:
        if slot_s <= 0 or retention_s < slot_s:
            raise ValueError("need 0 < slot_s <= retention_s")
        self._clock = clock
        self._slot_s = slot_s
        self._retention_slots = math.ceil(retention_s / slot_s)
        self._max_series = max_series_per_slot
        self._slots: dict[int, _Slot] = {}
        self._pruned_at: int | None = None
        self.dropped_series = 0

    @property
    def slot_s(self) -> float:
        return self._slot_s

    @property
    def retention_s(self) -> float:
        return self._retention_slots * self._slot_s

    def add_histogram(
        self, name: str, labels: Labels, histogram: LogHistogram, *, at: float | None = None
    ) -> None:
        """Merge ``histogram`` into the slot of ``at`` (default now; future times mean now)."""
        slot = self._slot_for(at)
        if slot is None or histogram.is_empty:
            return
        key = (name, label_key(labels))
        existing = slot.histograms.get(key)
        if existing is not None:
            existing.merge(histogram)
        elif self._has_room(slot):
            slot.histograms[key] = histogram.copy()

    def add_counter(
        self, name: str, labels: Labels, value: float, *, at: float | None = None
    ) -> None:
        """Add ``value`` to the counter sum in the slot of ``at`` (default now)."""
        slot = self._slot_for(at)
        if slot is None:
            return
        key = (name, label_key(labels))
        if key in slot.counters:
            slot.counters[key] += value
        elif self._has_room(slot):
            slot.counters[key] = value

    def histogram(
        self, name: str, window_s: float, label_filter: Labels | None = None
    ) -> LogHistogram:
        """All values of ``name`` in the window, merged across slots and matching label sets."""
        merged = LogHistogram()
        for _, histogram in self._histogram_series(name, window_s, label_filter):
            merged.merge(histogram)
        return merged

    def histograms_by(
        self, name: str, label: str, window_s: float, label_filter: Labels | None = None
    ) -> dict[str, LogHistogram]:
        """Merged histograms of ``name`` by value of ``label`` (series without it skipped)."""
        grouped: dict[str, LogHistogram] = {}
        for key, histogram in self._histogram_series(name, window_s, label_filter):
            value = dict(key).get(label)
            if value is not None:
                grouped.setdefault(value, LogHistogram()).merge(histogram)
        return grouped

    def counter(self, name: str, window_s: float, label_filter: Labels | None = None) -> float:
        return sum(value for _, value in self._counter_series(name, window_s, label_filter))

    def counter_by(
        self, name: str, label: str, window_s: float, label_filter: Labels | None = None
    ) -> dict[str, float]:
        """Counter sums of ``name`` by value of ``label`` (series without it skipped)."""
        grouped: dict[str, float] = {}
        for key, value in self._counter_series(name, window_s, label_filter):
            label_value = dict(key).get(label)
            if label_value is not None:
                grouped[label_value] = grouped.get(label_value, 0.0) + value
        return grouped

    def _histogram_series(
        self, name: str, window_s: float, label_filter: Labels | None
    ) -> Iterator[tuple[LabelKey, LogHistogram]]:
        for slot in self._window_slots(window_s):
            for (series_name, key), histogram in slot.histograms.items():
                if series_name == name and _matches(key, label_filter):
                    yield key, histogram

    def _counter_series(
        self, name: str, window_s: float, label_filter: Labels | None
    ) -> Iterator[tuple[LabelKey, float]]:
        for slot in self._window_slots(window_s):
            for (series_name, key), value in slot.counters.items():
                if series_name == name and _matches(key, label_filter):
                    yield key, value

    def _window_slots(self, window_s: float) -> list[_Slot]:
        now = self._prune()
        wanted = min(max(1, math.ceil(window_s / self._slot_s)), self._retention_slots)
        return [slot for index, slot in self._slots.items() if index > now - wanted]

    def _slot_for(self, at: float | None) -> _Slot | None:
        """The slot for time ``at``, created if needed; None when it is past retention."""
        now = self._prune()
        index = now if at is None else min(self._index(at), now)
        if index <= now - self._retention_slots:
            return None
        return self._slots.setdefault(index, _Slot())

    def _has_room(self, slot: _Slot) -> bool:
        if slot.series < self._max_series:
            return True
        self.dropped_series += 1
        return False

    def _prune(self) -> int:
        """Drop slots past retention (only when the current slot changed); the current index."""
        now = self._index(self._clock())
        if now == self._pruned_at:
            return now
        self._pruned_at = now
        oldest_kept = now - self._retention_slots + 1
        # Slots ahead of now exist only if the wall clock stepped back; drop them too.
        for index in [i for i in self._slots if not oldest_kept <= i <= now]:
            del self._slots[index]
        return now

    def _index(self, t: float) -> int:
        return math.floor(t / self._slot_s)
