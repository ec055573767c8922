"""A bounded LRU memo for pure per-request work (validation, cache keys): hot requests
repeat byte for byte, and at thousands per second the ~100 µs of normalising and
hashing each one is a large share of a cached answer's cost."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Memo"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The remembered value, or ``compute()`` remembered (exceptions are not)."""
        try:
            value = self._values[key]
        except KeyError:
            value = compute()
            self._values[key] = value
            if len(self._values) > self._max:
                self._values.popitem(last=False)
            return value
        self._values.move_to_end(key)
        return value

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
