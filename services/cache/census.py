"""How many entries each tier holds, counted in the background (never on a request).

Redis: SCAN over the entry prefix, stopping at a limit, so a huge keyspace costs a
bounded number of round trips. DynamoDB: DescribeTable's ItemCount, which AWS
refreshes about every six hours (a full Scan every minute would cost read capacity
in proportion to the table). Both are estimates, and reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from services.cache.errors import TierUnavailable
from services.cache.store import CacheStore
from services.common.periodic import Periodic

__all__ = ["CensusPolicy", "EntryCensus"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CensusPolicy:
    interval_s: float = 60.0  # CACHE_ENTRY_COUNT_INTERVAL_SECONDS
    redis_limit: int = 100_000  # CACHE_ENTRY_COUNT_LIMIT: SCAN stops here
    timeout_s: float = 10.0  # per tier and run


class EntryCensus:
    def __init__(self, store: CacheStore, policy: CensusPolicy) -> None:
        self._store = store
        self._policy = policy
        self._periodic = Periodic(
            self.count_once, policy.interval_s, name="cache-census", run_first=True
        )

    async def count_once(self) -> dict[str, int]:
        """Count every reachable tier; a tier that fails keeps its last count."""
        counts: dict[str, int] = {}
        l1, l2 = self._store.tier, self._store.l2
        if l1 is not None:
            with contextlib.suppress(TierUnavailable, TimeoutError):
                async with asyncio.timeout(self._policy.timeout_s):
                    counted, complete = await l1.count_entries(self._policy.redis_limit)
                counts[l1.name] = counted
                if not complete:
                    log.info("cache census: %s holds more than %d entries", l1.name, counted)
        if l2 is not None:
            with contextlib.suppress(TierUnavailable, TimeoutError):
                async with asyncio.timeout(self._policy.timeout_s):
                    counts[l2.name] = await l2.approximate_count()
        self._store.record_entry_counts(counts)
        return counts

    async def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
