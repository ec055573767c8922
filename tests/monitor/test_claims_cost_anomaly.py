"""The claim log on a real Redis, the cost ledger and the anomaly baseline."""

from __future__ import annotations

import random

import pytest
from redis.asyncio import Redis

from services.monitor.aggregator import MetricValue
from services.monitor.alerts import Notification
from services.monitor.anomaly import AnomalyTracker, BaselineConfig
from services.monitor.claims import RedisClaimer
from services.monitor.cost import CostLedger
from tests.monitor.test_windows import FakeClock

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def note(kind: str, digest: str = "d1") -> Notification:
    return Notification("pools", kind, (), START, digest)


async def test_one_claim_wins_per_receiver_and_notification(redis_url):
    claimers = [RedisClaimer(Redis.from_url(redis_url), cooldown_s=300.0) for _ in range(2)]
    try:
        won = [await c.claim("slack", note("firing")) for c in claimers]
        assert won == [True, False]
        # Another receiver, or another alert set, is a separate claim.
        assert await claimers[1].claim("sns", note("firing"))
        assert await claimers[1].claim("slack", note("firing", digest="d2"))
        # Resolving frees the firing claim, so a new episode notifies at once.
        assert await claimers[1].claim("slack", note("resolved"))
        assert not await claimers[0].claim("slack", note("resolved"))
        assert await claimers[0].claim("slack", note("firing"))
        ttl = await claimers[0]._redis.pttl(RedisClaimer.key("slack", note("firing")))
        assert 260_000 < ttl <= 270_000  # 90 % of the cooldown
    finally:
        for c in claimers:
            await c.aclose()


def test_cost_is_booked_per_utc_day_and_month_with_bounded_clients():
    clock = FakeClock(START + 3600)
    ledger = CostLedger(clock, daily_budget_usd=4.0, monthly_budget_usd=100.0, max_keys=2)
    ledger.ingest(
        [
            MetricValue("cost_usd_total", {"client": "a"}, 1.0),
            MetricValue("cost_usd_total", {"client": "b"}, 2.0),
            MetricValue("cost_usd_total", {"client": "c"}, 0.5),  # beyond max_keys: "other"
            MetricValue("cost_avoided_usd_total", {"source": "redis"}, 0.75),
            MetricValue("requests_total", {"outcome": "ok"}, 9.0),  # not cost
        ]
    )
    summary = ledger.summary()
    assert summary.by_client_day == {"a": 1.0, "b": 2.0, "other": 0.5}
    assert summary.daily_used == pytest.approx(3.5 / 4.0)
    assert summary.budget_ratios() == {"day": 3.5 / 4.0, "month": 0.035}
    clock.advance(86_400)
    ledger.ingest([MetricValue("cost_usd_total", {"client": "a"}, 1.0)])
    summary = ledger.summary()
    assert (summary.day, summary.total_day, summary.total_month) == ("2026-01-02", 1.0, 4.5)
    assert summary.avoided_by_source_month == {"redis": 0.75}


def test_anomaly_score_is_robust_to_outliers_and_waits_for_history():
    clock = FakeClock(START)
    tracker = AnomalyTracker(BaselineConfig(step_s=60, min_history=10, min_traffic=20), clock)
    rng = random.Random(5)
    for i in range(30):
        # A noisy baseline around 100 with two wild outliers the median ignores.
        value = 5_000.0 if i in (7, 19) else 100.0 + rng.uniform(-5, 5)
        score = tracker.observe(value, traffic=50)
        if i < 10:
            assert score == 0.0  # not enough history yet
        clock.advance(60)
    assert abs(tracker.observe(101.0, traffic=50)) < 1.0
    assert tracker.observe(160.0, traffic=50) > 8.0
    assert tracker.observe(10_000.0, traffic=5) == 0.0  # under the traffic floor: no score
