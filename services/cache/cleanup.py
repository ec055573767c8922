"""Which entries are worth keeping: a score from 0 (remove first) to 100.

    score = 100 * (0.35 * C + 0.25 * H + 0.20 * R + 0.20 * K - 0.20 * S)   clamped to 0..100

    C  confidence score / 100
    H  hits: log(1 + hits) / log(1 + 100), capped at 1 (100 hits counts as "hot")
    R  remaining life: (expires_at - now) / (expires_at - created_at)
    K  compute cost: compute seconds / 30 (the workflow threshold), capped at 1
    S  size: stored bytes / 1 MiB, capped at 1

An expired entry scores 0 whatever else it has (DynamoDB keeps expired items for
days); so does one whose bytes do not decode. Entries below the threshold (default
25) are candidates, lowest score first. The reason lists what pulled the score down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EntryFacts", "Scored", "score_entry"]

_HOT_HITS = 100
_SLOW_COMPUTE_S = 30.0
_LARGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class EntryFacts:
    key: str
    confidence_score: int
    hits: int
    created_at: float
    expires_at: float
    compute_s: float
    size_bytes: int
    corrupt: bool = False


@dataclass(frozen=True)
class Scored:
    facts: EntryFacts
    score: float
    reason: str


def score_entry(facts: EntryFacts, now: float) -> Scored:
    if facts.corrupt:
        return Scored(facts, 0.0, "stored bytes do not decode")
    if facts.expires_at <= now:
        return Scored(facts, 0.0, "expired (the tier has not deleted it yet)")
    life = max(facts.expires_at - facts.created_at, 1e-9)
    parts = {
        "low confidence": 0.35 * min(max(facts.confidence_score, 0), 100) / 100,
        "rarely hit": 0.25 * min(1.0, math.log1p(facts.hits) / math.log1p(_HOT_HITS)),
        "near expiry": 0.20 * min(1.0, (facts.expires_at - now) / life),
        "cheap to recompute": 0.20 * min(1.0, facts.compute_s / _SLOW_COMPUTE_S),
    }
    size = 0.20 * min(1.0, facts.size_bytes / _LARGE_BYTES)
    score = max(0.0, min(100.0, 100 * (sum(parts.values()) - size)))
    weights = {"low confidence": 0.35, "rarely hit": 0.25, "near expiry": 0.2}
    weights["cheap to recompute"] = 0.2
    # A factor "pulls down" when it earns less than half its weight.
    weak = [name for name, got in parts.items() if got < weights[name] / 2]
    if size >= 0.1:
        weak.append("large")
    return Scored(facts, round(score, 2), ", ".join(weak) or "below threshold")
