"""How long a cached analysis lives, by the model's confidence in it.

A confident answer is unlikely to change on a rerun, so it may live longer; a shaky
one should be recomputed soon. Bands (defaults):

    score >= 90            4 h
    70 <= score < 90       1 h at 70, rising linearly to 2 h at 89 (held at 2 h up to 90)
    score < 70             30 min

Entries whose analysis carries validation errors (a field the parser could not
read) are still cached, since they cost as much as a clean one, but always with the
low TTL so a better answer replaces them soon. When the policy is disabled every
entry gets ``default_ttl_s``; the validation-error rule still applies, because it
guards correctness rather than tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TtlPolicy"]

_HOUR = 3600.0


@dataclass(frozen=True)
class TtlPolicy:
    enabled: bool = True
    high_min_score: int = 90
    high_ttl_s: float = 4 * _HOUR
    mid_min_score: int = 70
    mid_ttl_min_s: float = 1 * _HOUR
    mid_ttl_max_s: float = 2 * _HOUR
    low_ttl_s: float = 0.5 * _HOUR
    default_ttl_s: float = 1 * _HOUR

    def __post_init__(self) -> None:
        if not 0 <= self.mid_min_score < self.high_min_score <= 100:
            raise ValueError("need 0 <= mid_min_score < high_min_score <= 100")
        ttls = (self.high_ttl_s, self.mid_ttl_min_s, self.mid_ttl_max_s, self.low_ttl_s)
        if min(*ttls, self.default_ttl_s) <= 0:
            raise ValueError("every TTL must be positive")
        if self.mid_ttl_min_s > self.mid_ttl_max_s:
            raise ValueError("mid_ttl_min_s must not exceed mid_ttl_max_s")

    def ttl_for(self, confidence_score: float, *, has_validation_errors: bool = False) -> float:
        """Seconds to keep an entry with this confidence score (clamped to 0-100)."""
        if has_validation_errors:
            return self.low_ttl_s
        if not self.enabled:
            return self.default_ttl_s
        score = min(max(float(confidence_score), 0.0), 100.0)
        if score >= self.high_min_score:
            return self.high_ttl_s
        if score >= self.mid_min_score:
            return self._mid_ttl(score)
        return self.low_ttl_s

    def _mid_ttl(self, score: float) -> float:
        # The ramp ends at the last whole score of the band (89 by default);
        # fractional scores above it hold the band's maximum.
        # A band of a single whole score has no ramp and takes the maximum.
        span = self.high_min_score - 1 - self.mid_min_score
        fraction = 1.0 if span == 0 else min((score - self.mid_min_score) / span, 1.0)
        return self.mid_ttl_min_s + fraction * (self.mid_ttl_max_s - self.mid_ttl_min_s)
