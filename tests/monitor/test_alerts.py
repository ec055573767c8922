"""The alert engine on its own: grouping, repeat cooldown, inhibition, silences, watchers."""

from __future__ import annotations

import asyncio
import random

import pytest

from services.common.errors import InvalidInput
from services.monitor.alerts import AlertEngine, State
from services.monitor.errors import SilenceNotFound, WatcherLagging
from services.monitor.rules import parse_rules
from services.monitor.signals import Sample
from services.monitor.silences import Matcher, Silences
from services.monitor.watch import Watchers
from tests.monitor.test_windows import FakeClock

RULES = parse_rules(
    """
rules:
  - name: HighPoolUtilization
    group: pools
    signal: pool_utilization
    comparison: above
    warning: 0.8
    critical: 0.95
    for: 30s
    hold: 60s
    summary: pool busy
    look_at: the pool
""",
    "test",
)
WARN, CRIT = "HighPoolUtilization/warning", "HighPoolUtilization/critical"


def pools(**used: float) -> dict[str, list[Sample]]:
    samples = [Sample({"pool": name}, value, 0.0) for name, value in used.items()]
    return {WARN: samples, CRIT: samples}


@pytest.fixture
def engine(clock: FakeClock) -> AlertEngine:
    return AlertEngine(RULES, clock, Silences(clock, random.Random(3)), repeat_cooldown_s=300.0)


def step(engine: AlertEngine, clock: FakeClock, seconds: float, **used: float):
    out = []
    end = clock.now + seconds
    while clock.now < end:
        out.extend(engine.evaluate(pools(**used)).notifications)
        clock.advance(5.0)
    return out


def test_alerts_of_a_group_go_out_together_and_repeat_after_the_cooldown(engine, clock):
    sent = step(engine, clock, 40.0, bedrock=0.85, athena=0.9)
    [first] = sent
    assert first.kind == "firing"
    assert sorted(a.subject["pool"] for a in first.alerts) == ["athena", "bedrock"]
    assert step(engine, clock, 250.0, bedrock=0.85, athena=0.9) == []
    [repeat] = step(engine, clock, 60.0, bedrock=0.85, athena=0.9)
    assert repeat.digest == first.digest and repeat.at - first.at >= 300.0


def test_a_new_alert_in_a_firing_group_notifies_at_once(engine, clock):
    step(engine, clock, 40.0, bedrock=0.85)
    [escalated] = step(engine, clock, 40.0, bedrock=0.85, lambda_=0.9)
    assert {a.subject["pool"] for a in escalated.alerts} == {"bedrock", "lambda_"}


def test_critical_inhibits_warning_of_the_same_subject_only(engine, clock):
    [sent] = step(engine, clock, 40.0, bedrock=0.99, athena=0.85)
    notified = {(a.subject["pool"], a.rule.severity) for a in sent.alerts}
    assert notified == {("bedrock", "critical"), ("athena", "warning")}
    muted = [a for a in engine.alerts() if a.inhibited]
    assert [(a.subject["pool"], a.rule.severity) for a in muted] == [("bedrock", "warning")]


def test_silence_mutes_matching_alerts_until_it_ends(engine, clock):
    silence = engine.silences.create(
        [Matcher("alertname", "HighPool.*", regex=True), Matcher("pool", "bedrock")],
        ends_at=0.0,
        duration_s=120.0,
        author="ops",
        reason="pool resize in progress",
    )
    assert step(engine, clock, 60.0, bedrock=0.9) == []
    assert all(a.silenced_by == (silence.id,) for a in engine.alerts())
    # The silence ends while the alert still fires: now it is notified.
    [sent] = step(engine, clock, 80.0, bedrock=0.9)
    assert sent.kind == "firing" and sent.at >= silence.ends_at


def test_deleting_a_silence_unmutes(engine, clock):
    silence = engine.silences.create(
        [Matcher("group", "pools")], ends_at=0.0, duration_s=3600.0, author="a", reason="r"
    )
    assert step(engine, clock, 40.0, bedrock=0.9) == []
    engine.silences.delete(silence.id)
    [sent] = step(engine, clock, 5.0, bedrock=0.9)
    assert sent.alerts[0].subject == {"pool": "bedrock"}
    with pytest.raises(SilenceNotFound):
        engine.silences.delete(silence.id)


def test_silence_requests_are_validated(engine):
    with pytest.raises(InvalidInput) as raised:
        engine.silences.create(
            [Matcher("", "x"), Matcher("pool", "(", regex=True)],
            ends_at=0.0,
            duration_s=0.0,
            author=" ",
            reason="",
        )
    fields = [v.field for v in raised.value.violations]
    assert fields == ["matchers[0].name", "matchers[1].value", "ends_at_unix", "author", "reason"]


def test_resolution_waits_for_the_hold_and_is_sent_once(engine, clock):
    step(engine, clock, 40.0, bedrock=0.9)
    quiet = step(engine, clock, 55.0, bedrock=0.1)
    assert quiet == [] and engine.alerts()[0].state == State.FIRING
    [resolved] = step(engine, clock, 10.0, bedrock=0.1)
    assert resolved.kind == "resolved"
    assert step(engine, clock, 400.0, bedrock=0.1) == []


async def test_watchers_see_every_change_and_a_slow_one_is_cut(engine, clock):
    watchers = Watchers(max_queue=3)
    fast, slow = watchers.subscribe(), watchers.subscribe()
    pending = [asyncio.ensure_future(anext(w)) for w in (fast, slow)]
    await asyncio.sleep(0)  # both streams are now subscribed
    [change] = engine.evaluate(pools(bedrock=0.9)).changes
    watchers.publish([change])
    assert [(await p).alert.state for p in pending] == [State.PENDING, State.PENDING]
    for _ in range(5):  # the fast watcher keeps up; the slow one never reads
        watchers.publish([change])
        assert (await anext(fast)).alert.fingerprint == change.alert.fingerprint
    assert watchers.count == 1
    with pytest.raises(WatcherLagging):
        while True:
            await anext(slow)


def test_de_escalation_notifies_only_while_the_warning_still_breaches(engine, clock):
    [fired] = step(engine, clock, 40.0, bedrock=0.99)
    assert [a.rule.severity for a in fired.alerts] == ["critical"]
    # Down to warning level and staying there: once the critical resolves, the warning is news.
    [warning] = step(engine, clock, 70.0, bedrock=0.85)
    assert (warning.kind, [a.rule.severity for a in warning.alerts]) == ("firing", ["warning"])


def test_a_warning_left_in_its_hold_after_the_critical_resolves_stays_quiet(engine, clock):
    step(engine, clock, 40.0, bedrock=0.99)
    assert step(engine, clock, 10.0, bedrock=0.85) == []
    sent = step(engine, clock, 120.0, bedrock=0.1)
    assert [n.kind for n in sent] == ["resolved"]
    assert {a.rule.severity for a in sent[0].alerts} == {"critical"}
