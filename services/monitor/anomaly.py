"""Anomaly scores against a robust baseline (median and MAD of recent values).

Each tracked signal keeps one value per ``step_s`` (the last-minute P95 latency, error
rate or hit rate), up to ``history`` of them. The score of the current value is

    (value - median) / max(1.4826 * MAD, min_scale)

signed so that higher is worse (hit rate: lower is worse). 1.4826 * MAD estimates
the standard deviation of normal data, so the score reads as "robust sigmas"; the
median and MAD ignore the outliers a mean and standard deviation would chase. Values
from windows with less traffic than ``min_traffic`` are neither scored nor learned,
and no score is given until ``min_history`` values exist.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AnomalyTracker", "BaselineConfig"]


@dataclass(frozen=True)
class BaselineConfig:
    step_s: float = 60.0
    history: int = 60
    min_history: int = 10
    min_traffic: float = 20.0
    min_scale: float = 0.0  # floor of the scale, in the signal's unit
    higher_is_worse: bool = True


class AnomalyTracker:
    def __init__(self, config: BaselineConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._values: deque[float] = deque(maxlen=config.history)
        self._last_learned_at: float | None = None
        self.score = 0.0
        self.traffic = 0.0

    def observe(self, value: float, traffic: float) -> float:
        """Score ``value`` against the baseline (0 when not scorable), then maybe learn it."""
        config = self._config
        self.traffic = traffic
        if traffic < config.min_traffic:
            self.score = 0.0
            return self.score
        self.score = self._score(value)
        now = self._clock()
        if self._last_learned_at is None or now - self._last_learned_at >= config.step_s:
            self._values.append(value)
            self._last_learned_at = now
        return self.score

    def _score(self, value: float) -> float:
        config = self._config
        if len(self._values) < config.min_history:
            return 0.0
        median = statistics.median(self._values)
        mad = statistics.median(abs(v - median) for v in self._values)
        scale = max(1.4826 * mad, config.min_scale, 1e-12)
        deviation = value - median if config.higher_is_worse else median - value
        return deviation / scale
