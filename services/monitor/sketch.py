"""A mergeable log-bucket latency histogram (DDSketch-style), free of grpc and protobuf.

Bucket ``i`` holds values in ``(gamma^(i-1), gamma^i]`` milliseconds with
``gamma = (1 + a) / (1 - a)`` and relative accuracy ``a = 0.01``. Every value of
a bucket is within ``a`` of the bucket's representative ``2 * gamma^i / (gamma + 1)``,
so ``quantile(q)`` is within 1 % (relative) of the exact lower sample quantile
``sorted(values)[floor(q * (n - 1))]``. Merging two histograms adds their buckets,
so quantiles of a merge are exactly those of a histogram fed with all the values:
replicas are merged, never averaged.

Memory is bounded by the value range, not by the number of values: 1 ms .. 1 h
spans bucket indices 0..755 (756 buckets). Values at or below ``MIN_VALUE_MS``
(1 µs) share a zero bucket reported as 0 ms; values above ``MAX_VALUE_MS`` (one day)
are counted in the top bucket. Across the whole range there are at most
``MAX_INDEX - MIN_INDEX + 1`` (about 1,260) buckets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "GAMMA",
    "MAX_INDEX",
    "MAX_VALUE_MS",
    "MIN_INDEX",
    "MIN_VALUE_MS",
    "RELATIVE_ACCURACY",
    "LogHistogram",
    "bucket_index",
    "bucket_value",
]

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LN_GAMMA = math.log(GAMMA)
MIN_VALUE_MS = 1e-3
MAX_VALUE_MS = 86_400_000.0


def _raw_index(value: float) -> int:
    return math.ceil(math.log(value) / _LN_GAMMA)


MIN_INDEX = _raw_index(MIN_VALUE_MS)
MAX_INDEX = _raw_index(MAX_VALUE_MS)


def bucket_index(value: float) -> int | None:
    """The bucket of ``value`` in ms; None for the zero bucket (``value <= MIN_VALUE_MS``)."""
    if value <= MIN_VALUE_MS:
        return None
    return min(max(_raw_index(value), MIN_INDEX), MAX_INDEX)


def bucket_value(index: int) -> float:
    """The representative of bucket ``index``: equidistant (relatively) from both edges."""
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


class LogHistogram:
    """Counts of values (ms) in log buckets, plus exact count, sum and max."""

    __slots__ = ("_buckets", "_count", "_max", "_sum", "_zero_count")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._zero_count = 0
        self._count = 0
        self._sum = 0.0
        self._max = 0.0

    @classmethod
    def of(cls, values: Iterable[float]) -> LogHistogram:
        histogram = cls()
        for value in values:
            histogram.add(value)
        return histogram

    @classmethod
    def from_parts(
        cls,
        buckets: Mapping[int, int],
        *,
        zero_count: int = 0,
        total: float = 0.0,
        max_value: float = 0.0,
    ) -> LogHistogram:
        """Rebuild a histogram from its wire parts; ValueError when they are impossible."""
        if zero_count < 0:
            raise ValueError("zero_count must not be negative")
        if not (math.isfinite(total) and total >= 0.0):
            raise ValueError("sum must be finite and not negative")
        if not (math.isfinite(max_value) and max_value >= 0.0):
            raise ValueError("max must be finite and not negative")
        histogram = cls()
        for index, count in buckets.items():
            if not MIN_INDEX <= index <= MAX_INDEX:
                raise ValueError(f"bucket index {index} outside [{MIN_INDEX}, {MAX_INDEX}]")
            if count < 0:
                raise ValueError(f"bucket {index} has a negative count")
            if count:
                histogram._buckets[index] = count
        if histogram._buckets:
            top = max(histogram._buckets)
            # Tolerance for values that sat on a bucket edge when the sender bucketed them.
            if max_value < GAMMA ** (top - 1) * (1 - 1e-9):
                raise ValueError(f"max {max_value} is below the lower edge of bucket {top}")
        histogram._zero_count = zero_count
        histogram._count = zero_count + sum(histogram._buckets.values())
        histogram._sum = total
        histogram._max = max_value
        return histogram

    def add(self, value: float, count: int = 1) -> None:
        """Record ``value`` ms ``count`` times; negative values (clock steps) count as 0."""
        if not math.isfinite(value):
            raise ValueError(f"value must be finite, got {value!r}")
        if count < 0:
            raise ValueError("count must not be negative")
        if count == 0:
            return
        value = max(value, 0.0)
        index = bucket_index(value)
        if index is None:
            self._zero_count += count
        else:
            self._buckets[index] = self._buckets.get(index, 0) + count
        self._count += count
        self._sum += value * count
        self._max = max(self._max, value)

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s values to this histogram (in place)."""
        buckets = self._buckets
        for index, count in other._buckets.items():
            buckets[index] = buckets.get(index, 0) + count
        self._zero_count += other._zero_count
        self._count += other._count
        self._sum += other._sum
        self._max = max(self._max, other._max)

    def quantile(self, q: float) -> float:
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Lower sample quantiles (rank ``floor(q * (n - 1))``), each within 1 %; 0.0 if empty."""
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be in [0, 1], got {q!r}")
        if self._count == 0:
            return [0.0 for _ in qs]
        ordered = sorted(self._buckets.items())
        return [self._value_at_rank(math.floor(q * (self._count - 1)), ordered) for q in qs]

    def _value_at_rank(self, rank: int, ordered: list[tuple[int, int]]) -> float:
        seen = self._zero_count
        if rank < seen:
            return 0.0
        for index, count in ordered:
            seen += count
            if rank < seen:
                # The exact max is a better estimate whenever it lies inside the bucket.
                return min(bucket_value(index), self._max)
        return self._max

    def copy(self) -> LogHistogram:
        clone = LogHistogram()
        clone.merge(self)
        return clone

    @property
    def count(self) -> int:
        return self._count

    @property
    def sum(self) -> float:
        return self._sum

    @property
    def max(self) -> float:
        return self._max

    @property
    def mean(self) -> float:
        return self._sum / self._count if self._count else 0.0

    @property
    def buckets(self) -> dict[int, int]:
        """A copy of the non-empty buckets, index to count."""
        return dict(self._buckets)

    @property
    def zero_count(self) -> int:
        return self._zero_count

    @property
    def is_empty(self) -> bool:
        return self._count == 0

    def __repr__(self) -> str:
        return (
            f"LogHistogram(count={self._count}, buckets={len(self._buckets)}, max={self._max:.3f})"
        )
