"""Gateway settings: defaults, limit overrides, and one named failure per bad value."""

from __future__ import annotations

import argparse

import pytest

from services.common.settings import SettingsError
from services.gateway.cli import register
from services.gateway.config import LimitSpec, Settings, parse_limit_overrides
from services.gateway.loadgen import percentile


def test_defaults_match_the_documented_values() -> None:
    settings = Settings.from_env({})
    assert settings.global_limit == LimitSpec(1000, 200)
    assert (settings.max_concurrent, settings.queue_timeout_s) == (100, 60.0)
    assert settings.fail_mode == "open" and not settings.shadow
    assert settings.near_ttl_s == 5.0 and settings.replicas == 1


def test_overrides_parse_per_client() -> None:
    assert parse_limit_overrides(" crm=600/100, batch=60/10 ,") == {
        "crm": LimitSpec(600, 100),
        "batch": LimitSpec(60, 10),
    }


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CLIENT_LIMIT_OVERRIDES": "crm=600"}, "CLIENT_LIMIT_OVERRIDES"),
        ({"CLIENT_LIMIT_OVERRIDES": "crm=fast/10"}, "CLIENT_LIMIT_OVERRIDES"),
        ({"CLIENT_LIMIT_OVERRIDES": "crm=600/0"}, "CLIENT_LIMIT_OVERRIDES"),
        ({"RATE_LIMIT_FAIL_MODE": "sometimes"}, "RATE_LIMIT_FAIL_MODE"),
        ({"BURST_CAPACITY": "0"}, "BURST_CAPACITY"),
        ({"MAX_CONCURRENT_REQUESTS": "0"}, "MAX_CONCURRENT_REQUESTS"),
        ({"NEAR_CACHE_TTL_MS": "-1"}, "NEAR_CACHE_TTL_MS"),
        ({"RATE_LIMIT_SHADOW": "maybe"}, "RATE_LIMIT_SHADOW"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_loadtest_subcommand_parses() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["loadtest", "--concurrency", "8", "--count", "100"])
    assert (args.concurrency, args.count, args.distinct_ratio) == (8, 100, 0.0)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 99)) == (50, 99, 0)


def test_the_memo_is_bounded_and_does_not_remember_failures() -> None:
    from services.gateway.memo import Memo

    memo: Memo[int, int] = Memo(max_entries=2)
    calls: list[int] = []

    def compute(value: int) -> int:
        calls.append(value)
        if value < 0:
            raise ValueError("bad")
        return value * 10

    assert [memo.get(v, lambda v=v: compute(v)) for v in (1, 2, 1, 3, 2)] == [10, 20, 10, 30, 20]
    assert calls == [1, 2, 3, 2] and len(memo) == 2  # 2 was evicted by 3, then recomputed
    for _ in range(2):
        with pytest.raises(ValueError):
            memo.get(-1, lambda: compute(-1))
    assert calls.count(-1) == 2
