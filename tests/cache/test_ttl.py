from __future__ import annotations

import pytest

from services.cache.ttl import TtlPolicy

HOUR = 3600.0
POLICY = TtlPolicy()


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0, 0.5 * HOUR),
        (69, 0.5 * HOUR),
        (70, 1 * HOUR),
        (79.5, 1.5 * HOUR),
        (89, 2 * HOUR),
        (89.5, 2 * HOUR),
        (90, 4 * HOUR),
        (100, 4 * HOUR),
    ],
)
def test_band_edges(score: float, expected: float) -> None:
    assert POLICY.ttl_for(score) == pytest.approx(expected)


def test_mid_band_is_linear() -> None:
    step = HOUR / 19  # 1 h spread over scores 70..89
    for score in range(70, 90):
        assert POLICY.ttl_for(score) == pytest.approx(HOUR + (score - 70) * step)


def test_out_of_range_scores_are_clamped() -> None:
    assert POLICY.ttl_for(-5) == POLICY.ttl_for(0)
    assert POLICY.ttl_for(150) == POLICY.ttl_for(100)


def test_validation_errors_get_the_low_ttl() -> None:
    assert POLICY.ttl_for(95, has_validation_errors=True) == 0.5 * HOUR
    disabled = TtlPolicy(enabled=False)
    assert disabled.ttl_for(95, has_validation_errors=True) == 0.5 * HOUR


def test_disabled_policy_uses_the_default() -> None:
    disabled = TtlPolicy(enabled=False, default_ttl_s=1234.0)
    assert {disabled.ttl_for(s) for s in (0, 69, 75, 90, 100)} == {1234.0}


def test_bands_are_configurable() -> None:
    custom = TtlPolicy(
        high_min_score=80,
        high_ttl_s=100,
        mid_min_score=60,
        mid_ttl_min_s=10,
        mid_ttl_max_s=20,
        low_ttl_s=1,
    )
    assert custom.ttl_for(59) == 1
    assert custom.ttl_for(60) == 10
    assert custom.ttl_for(79) == 20
    assert custom.ttl_for(80) == 100


def test_single_score_mid_band_takes_its_maximum() -> None:
    narrow = TtlPolicy(mid_min_score=89, high_min_score=90)
    assert narrow.ttl_for(88) == narrow.low_ttl_s
    assert narrow.ttl_for(89) == narrow.mid_ttl_max_s
    assert narrow.ttl_for(90) == narrow.high_ttl_s


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mid_min_score": 90, "high_min_score": 90},
        {"mid_min_score": -1},
        {"high_min_score": 101},
        {"low_ttl_s": 0},
        {"mid_ttl_min_s": 3 * HOUR},
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TtlPolicy(**kwargs)  # type: ignore[arg-type]
