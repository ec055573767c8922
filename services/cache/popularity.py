"""Bounded key popularity: the Space-Saving algorithm (Metwally et al., 2005).

At most ``capacity`` keys are tracked. A new key arriving when the table is full
replaces the least counted one and inherits its count (plus one), so a key that is
truly among the top ``capacity`` is never lost and every estimate overstates its
true count by at most the inherited ``error``. Memory stays fixed however many
distinct keys the cache sees.
"""

from __future__ import annotations

__all__ = ["SpaceSaving"]


class SpaceSaving:
    def __init__(self, capacity: int = 512) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, key: str, weight: int = 1) -> None:
        counts = self._counts
        if key in counts:
            counts[key] += weight
            return
        if len(counts) < self.capacity:
            counts[key] = weight
            self._errors[key] = 0
            return
        # O(capacity) only when an untracked key arrives at a full table; hot keys
        # (the common case on a cache's read path) take the O(1) branch above.
        victim = min(counts, key=counts.__getitem__)
        floor = counts.pop(victim)
        self._errors.pop(victim, None)
        counts[key] = floor + weight
        self._errors[key] = floor

    def count(self, key: str) -> int:
        """Estimated count (0 when untracked); never below the true count if tracked."""
        return self._counts.get(key, 0)

    def top(self, k: int) -> list[tuple[str, int]]:
        """The ``k`` most counted keys, highest first (ties by key, for stable output)."""
        ranked = sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:k]
