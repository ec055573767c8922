"""Space-Saving popularity and the cleanup score, as plain functions."""

from __future__ import annotations

import random

from services.cache.cleanup import EntryFacts, score_entry
from services.cache.popularity import SpaceSaving

NOW = 1_000_000.0


def test_space_saving_keeps_heavy_hitters_in_bounded_memory() -> None:
    sketch = SpaceSaving(capacity=50)  # any key above N / 50 = 78 is kept
    rng = random.Random(3)
    truth: dict[str, int] = {}
    stream = [f"hot{i}" for i in range(3) for _ in range(300)]
    stream += [f"cold{rng.randrange(5000)}" for _ in range(3000)]
    rng.shuffle(stream)
    for key in stream:
        sketch.add(key)
        truth[key] = truth.get(key, 0) + 1
    assert len(sketch) == 50
    assert {k for k, _ in sketch.top(3)} == {"hot0", "hot1", "hot2"}
    for key, count in sketch.top(3):
        assert count >= truth[key]  # never underestimates a tracked key


def facts(**overrides: object) -> EntryFacts:
    base: dict[str, object] = {
        "key": "k",
        "confidence_score": 95,
        "hits": 100,
        "created_at": NOW - 600,
        "expires_at": NOW + 3 * 3600,
        "compute_s": 30.0,
        "size_bytes": 4000,
    }
    base.update(overrides)
    return EntryFacts(**base)  # type: ignore[arg-type]


def test_a_valuable_entry_scores_high_and_a_poor_one_low() -> None:
    good = score_entry(facts(), NOW)
    poor = score_entry(
        facts(
            confidence_score=40, hits=0, compute_s=0.5, expires_at=NOW + 60, created_at=NOW - 1740
        ),
        NOW,
    )
    assert good.score > 90
    assert poor.score < 25
    assert poor.reason == "low confidence, rarely hit, near expiry, cheap to recompute"


def test_expired_and_corrupt_entries_score_zero_and_size_counts_against() -> None:
    assert score_entry(facts(expires_at=NOW - 1), NOW).score == 0
    assert "expired" in score_entry(facts(expires_at=NOW - 1), NOW).reason
    assert score_entry(facts(corrupt=True), NOW).score == 0
    small, large = score_entry(facts(), NOW), score_entry(facts(size_bytes=2 << 20), NOW)
    assert small.score - large.score >= 19.5 and "large" in large.reason
