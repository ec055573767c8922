"""XFetch: probabilistic early refresh (Vattani, Chierichetti, Lowenstein, "Optimal
Probabilistic Cache Stampede Prevention", VLDB 2015).

A reader recomputes early when ``now - delta * beta * ln(u) >= expiry`` with ``u``
uniform in (0, 1], ``delta`` the time the value took to compute and ``beta`` a tuning
knob (1.0 is optimal in the paper; > 1 refreshes earlier). The probability is
negligible long before expiry and rises towards 1 as expiry nears, faster for
values that are slow to compute, so one reader refreshes a hot key before it
expires and the crowd behind it never sees a miss.
"""

from __future__ import annotations

import math
import random

__all__ = ["should_refresh_early"]


def should_refresh_early(
    *, now: float, expires_at: float, delta_s: float, beta: float, rng: random.Random
) -> bool:
    if beta <= 0 or delta_s <= 0:
        return False
    u = 1.0 - rng.random()  # (0, 1]: ln(0) is undefined
    return now - delta_s * beta * math.log(u) >= expires_at
