"""The Redis tier: a CacheTier over ``redis.asyncio`` with tight, bounded failure.

A cache that is slow to fail is worse than no cache, so every call has budgets of
tens of milliseconds (pool wait, connect, socket read/write), no client retries, and
a circuit breaker in front: after a few consecutive failures calls fail fast with
``TierUnavailable`` without touching the network until a probe succeeds. The pool
is a BlockingConnectionPool so a burst waits briefly for a connection instead of
opening unbounded sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.cache.breaker import CircuitBreaker
from services.cache.errors import TierUnavailable

__all__ = ["DEFAULT_KEY_PREFIX", "RedisTier"]

DEFAULT_KEY_PREFIX = "oppsuite:cache:"

_T = TypeVar("_T")


class RedisTier:
    """Keys are stored under ``key_prefix``; callers never see the prefix."""

    def __init__(
        self,
        url: str,
        *,
        breaker: CircuitBreaker,
        max_connections: int = 50,
        socket_timeout_s: float = 0.05,
        connect_timeout_s: float = 0.05,
        pool_timeout_s: float = 0.05,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        name: str = "redis",
    ) -> None:
        self.name = name
        self.breaker = breaker
        self._prefix = key_prefix
        # No client retries: the breaker and the caller's fallback (recompute) are
        # the retry policy; retrying inside a 50 ms budget only adds latency.
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = aioredis.Redis(connection_pool=self._pool)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisTier:
        """A tier with a default breaker; keyword arguments as for the constructor."""
        kwargs.setdefault("breaker", CircuitBreaker())
        return cls(url, **kwargs)

    async def _call(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        if not self.breaker.allow():
            raise TierUnavailable(
                f"{self.name} circuit is open",
                tier=self.name,
                retry_after_s=self.breaker.retry_after_s(),
            )
        try:
            result = await operation()
        except (RedisError, OSError) as exc:
            self.breaker.record_failure()
            raise TierUnavailable(f"{self.name} unavailable: {exc}", tier=self.name) from exc
        self.breaker.record_success()
        return result

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._client.get(self._key(key)))
        # decode_responses is off, so the client returns bytes; str only in its typing.
        return value.encode("utf-8") if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        ttl_ms = max(1, round(ttl_s * 1000))
        await self._call(lambda: self._client.set(self._key(key), value, px=ttl_ms))

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        names = [self._key(k) for k in keys]
        removed: int = await self._call(lambda: self._client.delete(*names))
        return removed

    async def ping(self) -> bool:
        """Goes to Redis even while the breaker is open (that is what a health check
        is for) and records the outcome, so a successful ping closes the breaker."""
        try:
            await self._client.ping()
        except (RedisError, OSError):
            self.breaker.record_failure()
            return False
        self.breaker.record_success()
        return True

    async def used_memory(self) -> int:
        """Redis ``used_memory`` in bytes, from INFO memory."""
        info: dict[str, Any] = await self._call(lambda: self._client.info("memory"))
        return int(info["used_memory"])

    async def scan_keys(self, match: str = "*", count: int = 500) -> AsyncIterator[str]:
        """Keys matching ``match`` (a glob, without the prefix), batch by batch with
        SCAN so a large keyspace never blocks Redis the way KEYS would. A key may be
        yielded more than once if the keyspace changes meanwhile (SCAN's guarantee)."""
        pattern = self._prefix + match
        cursor = 0
        while True:
            cursor, batch = await self._scan_page(cursor, pattern, count)
            for raw in batch:
                name = raw.decode("utf-8") if isinstance(raw, bytes) else raw
                yield name[len(self._prefix) :]
            if cursor == 0:
                return

    async def _scan_page(
        self, cursor: int, pattern: str, count: int
    ) -> tuple[int, list[bytes | str]]:
        page: tuple[int, list[bytes | str]] = await self._call(
            lambda: self._client.scan(cursor=cursor, match=pattern, count=count)
        )
        return page

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._pool.aclose()
