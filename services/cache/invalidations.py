"""Which keys were invalidated after a given moment, so a read of L2 that raced an
Invalidate cannot copy the removed entry back into L1.

A promotion (on a Get, or by warming) reads L2 first and writes L1 later; an Invalidate
landing in between would otherwise be undone. The log is bounded: once old records are
dropped, any read older than the oldest kept record is treated as possibly stale, which
only costs a skipped promotion, never a resurrected entry. It sees this replica's
invalidations only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["InvalidationLog"]


class InvalidationLog:
    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._seq = 0
        self._forgotten_up_to = 0
        self._by_key: OrderedDict[str, int] = OrderedDict()

    def mark(self) -> int:
        """A moment to compare against: take it before reading L2."""
        return self._seq

    def record(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._seq += 1
            self._by_key[key] = self._seq
            self._by_key.move_to_end(key)
        while len(self._by_key) > self._capacity:
            _, seq = self._by_key.popitem(last=False)
            self._forgotten_up_to = seq

    def invalidated_since(self, key: str, mark: int) -> bool:
        if mark < self._forgotten_up_to:
            return True
        return self._by_key.get(key, 0) > mark
