from __future__ import annotations

import math
import random

import pytest

from services.monitor.sketch import (
    MAX_INDEX,
    MIN_INDEX,
    RELATIVE_ACCURACY,
    LogHistogram,
    bucket_index,
    bucket_value,
)

QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
TOLERANCE = RELATIVE_ACCURACY * (1 + 1e-9)


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def uniform(rng: random.Random, n: int) -> list[float]:
    return [rng.uniform(1.0, 5_000.0) for _ in range(n)]


def lognormal(rng: random.Random, n: int) -> list[float]:
    return [rng.lognormvariate(math.log(200.0), 1.2) for _ in range(n)]


def bimodal(rng: random.Random, n: int) -> list[float]:
    # Cache hits (~2 ms) and misses (~30 s): percentiles jump across a wide gap.
    return [
        rng.gauss(2.0, 0.3) if rng.random() < 0.7 else rng.gauss(30_000.0, 4_000.0)
        for _ in range(n)
    ]


@pytest.mark.parametrize("distribution", [uniform, lognormal, bimodal])
def test_quantiles_are_within_relative_accuracy_of_exact(distribution):
    rng = random.Random(7)
    values = [max(v, 0.01) for v in distribution(rng, 20_000)]
    histogram = LogHistogram.of(values)
    for q in QUANTILES:
        exact = exact_quantile(values, q)
        estimate = histogram.quantile(q)
        assert abs(estimate - exact) <= TOLERANCE * exact, (q, exact, estimate)


def test_merged_halves_equal_the_sketch_of_all():
    rng = random.Random(3)
    values = lognormal(rng, 10_000)
    whole = LogHistogram.of(values)
    left, right = LogHistogram.of(values[:4_000]), LogHistogram.of(values[4_000:])
    left.merge(right)
    assert left.buckets == whole.buckets
    assert left.count == whole.count == 10_000
    assert left.max == whole.max == max(values)
    assert left.sum == pytest.approx(sum(values))
    assert left.quantiles(QUANTILES) == whole.quantiles(QUANTILES)


def test_count_sum_mean_max_are_exact():
    histogram = LogHistogram()
    histogram.add(10.0)
    histogram.add(30.0, count=3)
    assert histogram.count == 4
    assert histogram.sum == 100.0
    assert histogram.mean == 25.0
    assert histogram.max == 30.0
    assert not histogram.is_empty


def test_empty_histogram_reports_zeros():
    histogram = LogHistogram()
    assert histogram.is_empty
    assert histogram.quantile(0.99) == 0.0
    assert histogram.mean == 0.0
    assert histogram.quantiles((0.5, 0.9)) == [0.0, 0.0]


def test_tiny_and_negative_values_go_to_the_zero_bucket():
    histogram = LogHistogram()
    histogram.add(0.0)
    histogram.add(0.0005)
    histogram.add(-2.0)  # a clock stepping back must not corrupt the sketch
    histogram.add(100.0)
    assert histogram.zero_count == 3
    assert histogram.buckets == {bucket_index(100.0): 1}
    assert histogram.quantile(0.5) == 0.0
    assert histogram.quantile(1.0) == pytest.approx(100.0, rel=RELATIVE_ACCURACY)


def test_bucket_representative_is_within_accuracy_of_both_edges():
    gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
    for index in (-100, 0, 1, 350, 700):
        low, high = gamma ** (index - 1), gamma**index
        representative = bucket_value(index)
        assert representative - low == pytest.approx(RELATIVE_ACCURACY * low)
        assert high - representative == pytest.approx(RELATIVE_ACCURACY * high)
        assert bucket_index(high * 0.999999) == index
        assert bucket_index(low * 1.000001) == index


def test_one_ms_to_one_hour_needs_fewer_than_a_thousand_buckets():
    histogram = LogHistogram()
    value = 1.0
    while value <= 3_600_000.0:
        histogram.add(value)
        value *= 1.001
    assert len(histogram.buckets) < 1_000
    assert MAX_INDEX - MIN_INDEX + 1 < 1_300


def test_huge_values_are_clamped_to_the_top_bucket_but_max_stays_exact():
    histogram = LogHistogram()
    histogram.add(1e12)
    assert histogram.buckets == {MAX_INDEX: 1}
    assert histogram.max == 1e12


def test_copy_is_independent():
    original = LogHistogram.of([1.0, 2.0])
    clone = original.copy()
    clone.add(3.0)
    assert original.count == 2
    assert clone.count == 3


def test_rejects_non_finite_values_and_bad_quantiles():
    histogram = LogHistogram()
    with pytest.raises(ValueError):
        histogram.add(math.nan)
    with pytest.raises(ValueError):
        histogram.add(math.inf)
    with pytest.raises(ValueError):
        histogram.add(1.0, count=-1)
    with pytest.raises(ValueError):
        histogram.quantile(1.5)


def test_from_parts_round_trips_and_rejects_impossible_parts():
    original = LogHistogram.of([0.0, 5.0, 50.0, 500.0])
    rebuilt = LogHistogram.from_parts(
        original.buckets,
        zero_count=original.zero_count,
        total=original.sum,
        max_value=original.max,
    )
    assert rebuilt.buckets == original.buckets
    assert rebuilt.count == 4
    assert rebuilt.quantile(0.99) == original.quantile(0.99)
    with pytest.raises(ValueError, match="outside"):
        LogHistogram.from_parts({MAX_INDEX + 1: 1}, max_value=1e9)
    with pytest.raises(ValueError, match="negative"):
        LogHistogram.from_parts({10: -1}, max_value=2.0)
    with pytest.raises(ValueError, match="lower edge"):
        LogHistogram.from_parts({bucket_index(500.0) or 0: 1}, total=500.0, max_value=1.0)
    with pytest.raises(ValueError, match="sum"):
        LogHistogram.from_parts({}, total=math.nan)
