"""XFetch early refresh with a fixed clock and a seeded RNG."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator

import pytest

from services.cache.redis_tier import RedisTier
from services.cache.store import CacheStore, StoreOptions
from services.cache.ttl import TtlPolicy
from services.cache.xfetch import should_refresh_early
from services.common.breaker import CircuitBreaker
from services.common.gen import cache_pb2, types_pb2
from tests.cache.conftest import Clock

EXPIRY = 10_000.0


class FixedRandom(random.Random):
    """Always draws the same u, so one call's outcome is known exactly."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_far_from_expiry_never_refreshes_and_at_expiry_always_does() -> None:
    rng = random.Random(7)
    far = [
        should_refresh_early(now=EXPIRY - 600, expires_at=EXPIRY, delta_s=3, beta=1, rng=rng)
        for _ in range(2000)
    ]
    assert not any(far)  # would need -ln(u) >= 200: u <= e^-200
    at = [
        should_refresh_early(now=EXPIRY, expires_at=EXPIRY, delta_s=3, beta=1, rng=rng)
        for _ in range(100)
    ]
    assert all(at)


def test_one_draw_matches_the_formula() -> None:
    # u = 0.5: refresh iff now + delta * beta * ln 2 >= expiry
    gap = 3 * 1.0 * math.log(2)
    rng = FixedRandom(0.5)  # random() = 0.5 -> u = 1 - 0.5 = 0.5
    assert should_refresh_early(
        now=EXPIRY - gap + 0.001, expires_at=EXPIRY, delta_s=3, beta=1, rng=rng
    )
    assert not should_refresh_early(
        now=EXPIRY - gap - 0.001, expires_at=EXPIRY, delta_s=3, beta=1, rng=rng
    )


@pytest.mark.parametrize(("beta", "delta"), [(1.0, 2.0), (2.0, 2.0), (1.0, 8.0)])
def test_probability_is_exp_of_minus_gap_over_delta_beta(beta: float, delta: float) -> None:
    rng = random.Random(42)
    gap = 4.0
    draws = 20_000
    hits = sum(
        should_refresh_early(now=EXPIRY - gap, expires_at=EXPIRY, delta_s=delta, beta=beta, rng=rng)
        for _ in range(draws)
    )
    expected = math.exp(-gap / (delta * beta))
    assert abs(hits / draws - expected) < 0.015


def test_no_compute_time_or_zero_beta_never_refreshes() -> None:
    rng = FixedRandom(0.999)
    assert not should_refresh_early(now=EXPIRY - 1, expires_at=EXPIRY, delta_s=0, beta=1, rng=rng)
    assert not should_refresh_early(now=EXPIRY - 1, expires_at=EXPIRY, delta_s=5, beta=0, rng=rng)


@pytest.fixture
async def l1(redis_url: str) -> AsyncIterator[RedisTier]:
    tier = RedisTier(redis_url, breaker=CircuitBreaker())
    yield tier
    await tier.aclose()


async def test_store_flags_refresh_early_near_expiry_and_counts_it(l1: RedisTier) -> None:
    clock = Clock(1_000_000.0)
    store = CacheStore(
        l1, TtlPolicy(), clock, rng=FixedRandom(0.5), options=StoreOptions(xfetch_beta=1.0)
    )
    analysis = types_pb2.Analysis(confidence=types_pb2.CONFIDENCE_LOW, confidence_score=50)
    await store.put("x", cache_pb2.CacheEntry(analysis=analysis, compute_ms=10_000))  # 30 min
    assert not (await store.get("x")).refresh_early
    # 10 s compute, u = 0.5: refresh once within 10 * ln 2 = 6.93 s of expiry.
    clock.now += 1800 - 6.8
    got = await store.get("x")
    assert got.hit and got.refresh_early
    assert store.stats().early_refreshes == 1
