"""Every shipped rule fires (pending → firing, critical inhibiting warning) and resolves
(after its hold), driven by real reports through the aggregator on an injected clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.monitor.aggregator import MetricValue, Report
from services.monitor.alerts import Notification, State
from services.monitor.core import MonitorCore
from services.monitor.rules import load_rules
from tests.monitor.conftest import make_core, traffic
from tests.monitor.test_windows import FakeClock

RULES = load_rules(None)
MEMORY_LIMIT = 1_000_000_000.0


def _memory(rss_ratio: float) -> Callable[[FakeClock], Report]:
    def report(clock: FakeClock) -> Report:
        gauges = {
            ("memory_rss_bytes", ()): rss_ratio * MEMORY_LIMIT,
            ("memory_limit_bytes", ()): MEMORY_LIMIT,
        }
        return traffic(clock, gauges=gauges)

    return report


def _pool(used: float) -> Callable[[FakeClock], Report]:
    return lambda clock: traffic(clock, gauges={("pool_utilization", (("pool", "bedrock"),)): used})


# rule name -> (bad report, good report); "bad" is beyond the critical threshold.
SCENARIOS: dict[str, tuple[Callable[[FakeClock], Report], Callable[[FakeClock], Report]]] = {
    "HighRequestLatency": (
        lambda c: traffic(c, latency_ms=35_000.0),
        lambda c: traffic(c, latency_ms=300.0),
    ),
    "HighErrorRate": (lambda c: traffic(c, errors=15), lambda c: traffic(c, errors=0)),
    "LowCacheHitRate": (
        lambda c: traffic(c, hits=5, misses=45),
        lambda c: traffic(c, hits=49, misses=1),
    ),
    "HighMemoryUsage": (_memory(0.95), _memory(0.30)),
    "HighPoolUtilization": (_pool(0.97), _pool(0.20)),
    "StepThresholdViolations": (
        lambda c: traffic(c, steps={"data_retrieval": (12_000.0, 10)}),
        lambda c: traffic(c, steps={"data_retrieval": (800.0, 0)}),
    ),
}


def _states(core: MonitorCore, name: str) -> dict[str, State]:
    return {
        a.rule.severity: a.state
        for a in core.engine.alerts(include_resolved=True)
        if a.rule.name == name
    }


def _run(
    core: MonitorCore,
    clock: FakeClock,
    report: Callable[[FakeClock], Report],
    seconds: float,
    step_s: float = 10.0,
) -> list[Notification]:
    sent: list[Notification] = []
    end = clock.now + seconds
    while clock.now < end:
        core.ingest(report(clock))
        sent.extend(core.evaluate_once().notifications)
        clock.advance(step_s)
    return sent


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_rule_fires_then_resolves_after_its_hold(name: str, clock: FakeClock) -> None:
    bad, good = SCENARIOS[name]
    rule = next(r for r in RULES if r.name == name)
    core = make_core(clock)

    core.ingest(bad(clock))
    core.evaluate_once()
    assert _states(core, name) == {"warning": State.PENDING, "critical": State.PENDING}

    fired = _run(core, clock, bad, rule.for_s + 10)
    assert _states(core, name) == {"warning": State.FIRING, "critical": State.FIRING}
    [notification] = [n for n in fired if n.group == rule.group]
    assert notification.kind == "firing"
    # The critical inhibits the warning of the same subject: only it is notified.
    assert [a.rule.severity for a in notification.alerts] == ["critical"]
    [warning] = [a for a in core.engine.alerts() if a.rule.key == f"{name}/warning"]
    assert warning.inhibited

    # Healthy traffic: the bad data leaves the window, then the hold runs out.
    cleared: list[Notification] = []
    resolved_at = None
    deadline = clock.now + rule.window_s + rule.hold_s + 120
    while clock.now < deadline and resolved_at is None:
        cleared.extend(_run(core, clock, good, 10.0))
        if set(_states(core, name).values()) == {State.RESOLVED}:
            resolved_at = clock.now
    assert resolved_at is not None, f"{name} did not resolve"
    alerts = [a for a in core.engine.alerts(include_resolved=True) if a.rule.name == name]
    assert all(a.resolved_at - a.last_breach >= rule.hold_s for a in alerts)
    # "Resolved" goes out in the same evaluation the group resolved, not a group interval later.
    [resolved] = [n for n in cleared if n.group == rule.group and n.kind == "resolved"]
    assert resolved.at == max(a.resolved_at for a in alerts)


def test_a_breach_shorter_than_for_never_fires(clock: FakeClock) -> None:
    core = make_core(clock)
    bad, good = SCENARIOS["HighPoolUtilization"]
    _run(core, clock, bad, 30.0)
    _run(core, clock, good, 60.0)
    assert _states(core, "HighPoolUtilization") == {}


def test_traffic_under_the_floor_does_not_alert(clock: FakeClock) -> None:
    core = make_core(clock)
    # 100 % misses, but only 5 lookups per 10 s report: 15 in the 5 min window at first.
    sent = _run(core, clock, lambda c: traffic(c, requests=1, hits=0, misses=1), 120.0)
    assert _states(core, "LowCacheHitRate") == {}
    assert sent == []


def test_daily_budget_fires_at_once_and_resolves_on_the_next_day(clock: FakeClock) -> None:
    core = make_core(clock, daily_budget=10.0, monthly_budget=1_000.0)
    spend = [MetricValue("cost_usd_total", {"client": "crm"}, 12.0)]
    core.ingest(traffic(clock, counters=spend))
    [notification] = core.evaluate_once().notifications
    assert notification.group == "cost" and notification.alerts[0].rule.name == "CostDailyBudget"
    assert notification.alerts[0].value == pytest.approx(1.2)
    assert _states(core, "CostMonthlyBudget") == {}
    clock.advance(86_400.0)
    [resolved] = core.evaluate_once().notifications
    assert resolved.kind == "resolved"


def test_monthly_budget_warning_only(clock: FakeClock) -> None:
    core = make_core(clock, monthly_budget=100.0)
    core.ingest(traffic(clock, counters=[MetricValue("cost_usd_total", {"client": "a"}, 85.0)]))
    core.evaluate_once()
    assert _states(core, "CostMonthlyBudget") == {"warning": State.FIRING}


@pytest.mark.parametrize(
    ("name", "normal", "spike"),
    [
        ("LatencyAnomaly", {"latency_ms": 400.0}, {"latency_ms": 9_000.0}),
        ("ErrorRateAnomaly", {"errors": 0}, {"errors": 25}),
        ("HitRateAnomaly", {"hits": 45, "misses": 5}, {"hits": 10, "misses": 40}),
    ],
)
def test_anomalies_fire_against_a_learned_baseline(
    name: str, normal: dict[str, float], spike: dict[str, float], clock: FakeClock
) -> None:
    core = make_core(clock)
    # Twelve minutes of normal traffic build the baseline (one learned value per minute).
    _run(core, clock, lambda c: traffic(c, **normal), 12 * 60.0, step_s=30.0)
    assert _states(core, name) == {}
    tracker = {"LatencyAnomaly": "latency", "ErrorRateAnomaly": "error_rate"}.get(name, "hit_rate")
    assert core.anomalies[tracker].score < 1
    _run(core, clock, lambda c: traffic(c, **spike), 150.0, step_s=10.0)
    assert _states(core, name)["critical"] == State.FIRING
