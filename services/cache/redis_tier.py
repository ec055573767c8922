"""The Redis tier (L1): a CacheTier over ``redis.asyncio`` with tight, bounded failure.

A cache that is slow to fail is worse than no cache, so every call has budgets of
tens of milliseconds (pool wait, connect, socket read/write), no client retries on
timeouts, and a circuit breaker in front: after a few consecutive failures calls
fail fast with ``TierUnavailable`` without touching the network until a probe
succeeds. On a single
node the pool is a BlockingConnectionPool so a burst waits briefly for a connection
instead of opening unbounded sockets; against Redis Cluster (``cluster=True``) the
cluster client keeps a bounded pool per node.

Key layout. The caller's key is wrapped in a hash tag, so an entry and its lease
always live on the same Cluster slot and one Lua script may touch both::

    oppsuite:cache:{<key>}   the entry (envelope bytes, PX = its TTL)
    oppsuite:lease:{<key>}   "<token>|<holder>" while someone computes the key (PX)

Every Put that replaces an existing entry, and every Invalidate, publishes the key
on ``INVALIDATION_CHANNEL`` so near caches in other processes drop their copy.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.cache.errors import TierUnavailable
from services.common.breaker import CircuitBreaker

__all__ = [
    "DEFAULT_HITS_PREFIX",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_LEASE_PREFIX",
    "INVALIDATION_CHANNEL",
    "LeaseState",
    "RedisTier",
]

DEFAULT_KEY_PREFIX = "oppsuite:cache:"
DEFAULT_LEASE_PREFIX = "oppsuite:lease:"
DEFAULT_HITS_PREFIX = "oppsuite:hits:"
TOMBSTONE_PREFIX = "oppsuite:tomb:"
# Longer than any promotion can be in flight (an L2 read is bounded by the batch
# deadline, 2 s by default).
TOMBSTONE_MS = 10_000
INVALIDATION_CHANNEL = "oppsuite:cache:invalidations"

_T = TypeVar("_T")
_MGET_CHUNK = 100
_HITS_CHUNK = 500  # keys per hit-count pipeline
_BACKGROUND_TIMEOUT_S = 1.0

# Grant a free lease, or extend it for the holder that presents its token (a
# renewal of a lease that has meanwhile expired re-acquires it, as long as nobody
# else took it). Otherwise report the current holder and its remaining time. A new
# lease is refused while the entry exists (KEYS[2], same slot) unless ARGV[5] is
# '1' (a refresh): the caller's Get missed just before another holder's Put.
# Reply: {granted, token or holder, remaining ms, entry exists}.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true) or (#current + 1)
  if ARGV[1] ~= '' and string.sub(current, 1, sep - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, ARGV[1], 0, 0}
  end
  return {0, string.sub(current, sep + 1), redis.call('PTTL', KEYS[1]), 0}
end
if ARGV[1] == '' and ARGV[5] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {0, '', 0, 1}
end
local token = ARGV[1]
if token == '' then token = ARGV[4] end
redis.call('SET', KEYS[1], token .. '|' .. ARGV[2], 'NX', 'PX', ARGV[3])
return {1, token, 0, 0}
"""

# Compare-and-delete: only the token's owner may release.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Invalidate: remove the entry and, when it is removed for good (not evicted from
# this tier alone), leave a short-lived tombstone in the same slot (KEYS[2]).
_DELETE = """
local removed = redis.call('DEL', KEYS[1])
if ARGV[1] == '1' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
return removed
"""

# Promotion and warming: copy an entry in unless one is there (a fresher write won)
# or the key was invalidated since: a copy read from L2 just before an Invalidate,
# on any replica, must not bring the removed entry back.
_PROMOTE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  return 1
end
return 0
"""

# One round trip for a waiter: is the entry there, and is the lease still held?
_PROBE = """
return {redis.call('GET', KEYS[1]), redis.call('EXISTS', KEYS[2])}
"""


@dataclass(frozen=True)
class LeaseState:
    granted: bool
    token: str = ""
    holder: str = ""
    remaining_ms: int = 0
    entry_exists: bool = False


def _bytes(value: bytes | str | None) -> bytes | None:
    # decode_responses is off, so the client returns bytes; str only in its typing.
    return value.encode("utf-8") if isinstance(value, str) else value


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8") if isinstance(value, bytes) else value


class TaskFreeConnection(aioredis.Connection):
    """A connection whose writes are bounded by ``asyncio.timeout`` rather than by
    redis-py's ``asyncio.wait_for``, which on Python 3.11 starts a task for every
    command: about 15 µs of CPU on each cache hit, a few per cent of the hit path.
    Same bound (``socket_timeout``), same error, same dropped connection on expiry.
    Reads were already bounded without a task."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        timeout_s = self.socket_timeout
        if not timeout_s:
            await super().send_packed_command(command, check_health)
            return
        # The connection belongs to this command until it returns to the pool, so
        # lifting the attribute for the write cannot affect anyone else's call.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout_s):
                await super().send_packed_command(command, check_health)
        except TimeoutError:
            # redis-py disconnected on the cancellation, as its own timeout does.
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout_s


class RedisTier:
    """Keys are stored under ``key_prefix`` inside a hash tag; callers never see either."""

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
        lease_prefix: str = DEFAULT_LEASE_PREFIX,
        cluster: bool = False,
        name: str = "redis",
    ) -> None:
        self.name = name
        self.breaker = breaker
        self.cluster = cluster
        self._prefix = key_prefix
        self._lease_prefix = lease_prefix
        self._pool: aioredis.BlockingConnectionPool | None = None
        self._client: aioredis.Redis | RedisCluster
        # No client retries on timeouts: the breaker and the caller's fallback (the
        # other tier, or a recompute) are the retry policy; retrying inside 50 ms only
        # adds latency. One immediate retry on a broken connection: after a Redis
        # restart every pooled socket is dead, and that must not look like an outage.
        if cluster:
            self._client = RedisCluster.from_url(
                url,
                max_connections=max_connections,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=connect_timeout_s,
                connection_class=TaskFreeConnection,
                # Retries 0 also bounds the client's re-discovery after cluster errors.
                retry=Retry(NoBackoff(), 0),
            )
        else:
            self._pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=pool_timeout_s,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=connect_timeout_s,
                connection_class=TaskFreeConnection,
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            )
            self._client = aioredis.Redis(connection_pool=self._pool)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)
        self._probe = self._client.register_script(_PROBE)
        self._delete = self._client.register_script(_DELETE)
        self._promote = self._client.register_script(_PROMOTE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisTier:
        """A tier with a default breaker; keyword arguments as for the constructor."""
        kwargs.setdefault("breaker", CircuitBreaker())
        return cls(url, **kwargs)

    async def _call(
        self, operation: Callable[[], Awaitable[_T]], timeout_s: float | None = None
    ) -> _T:
        """``operation``, bounded by the socket timeouts, and by ``timeout_s`` as a
        whole when given (background work). A timed-out command's connection is
        dropped by redis-py, never reused mid-reply."""
        if not self.breaker.allow():
            raise TierUnavailable(
                f"{self.name} circuit is open",
                tier=self.name,
                retry_after_s=self.breaker.retry_after_s(),
            )
        try:
            if timeout_s is None:
                result = await operation()
            else:
                async with asyncio.timeout(timeout_s):
                    result = await operation()
        except TimeoutError as exc:
            self.breaker.record_failure()
            raise TierUnavailable(
                f"{self.name} did not answer within {timeout_s} s", tier=self.name
            ) from exc
        except (RedisError, OSError) as exc:
            self.breaker.record_failure()
            raise TierUnavailable(f"{self.name} unavailable: {exc}", tier=self.name) from exc
        self.breaker.record_success()
        return result

    def _key(self, key: str) -> str:
        return f"{self._prefix}{{{key}}}"

    def _lease_key(self, key: str) -> str:
        return f"{self._lease_prefix}{{{key}}}"

    def _tomb_key(self, key: str) -> str:
        return f"{TOMBSTONE_PREFIX}{{{key}}}"

    def _hits_key(self, key: str) -> str:
        return f"{DEFAULT_HITS_PREFIX}{{{key}}}"

    # --- entries -----------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return _bytes(await self._call(lambda: self._client.get(self._key(key))))

    async def hit_counts(self, keys: Sequence[str]) -> list[int]:
        """The shared hit count of each key, in order (0 for a key never counted)."""
        values = await self._mget([self._hits_key(k) for k in keys])
        return [int(v or 0) for v in values]

    async def add_hits(self, counts: Mapping[str, int], ttl_s: float) -> list[int]:
        """INCRBY each key's counter and push its expiry out, in one pipeline; the new
        totals, in the mapping's order. (The counter shares the entry's hash tag, so
        the two share a slot in a cluster.)"""
        ttl_ms = max(1, round(ttl_s * 1000))
        items = list(counts.items())

        async def run(chunk: list[tuple[str, int]]) -> list[int]:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, n in chunk:
                    pipe.incrby(self._hits_key(key), n)
                    pipe.pexpire(self._hits_key(key), ttl_ms)
                replies = await pipe.execute()
            return [int(total) for total in replies[0::2]]

        totals: list[int] = []
        for start in range(0, len(items), _HITS_CHUNK):
            chunk = items[start : start + _HITS_CHUNK]
            # Off the request path: a chunk may take longer than one command's budget.
            totals += await self._call(partial(run, chunk), timeout_s=_BACKGROUND_TIMEOUT_S)
        return totals

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values in order, 100 keys per MGET (per slot in a cluster, where the client
        splits the keys by slot and reassembles the order)."""
        return await self._mget([self._key(k) for k in keys])

    async def _mget(self, names: Sequence[str]) -> list[bytes | None]:
        values: list[bytes | None] = []
        for start in range(0, len(names), _MGET_CHUNK):
            chunk = names[start : start + _MGET_CHUNK]
            if isinstance(self._client, RedisCluster):
                page = await self._call(partial(self._client.mget_nonatomic, chunk))
            else:
                page = await self._call(partial(self._client.mget, chunk))
            values.extend(_bytes(v) for v in page)
        return values

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.set_replacing(key, value, ttl_s)

    async def set_replacing(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store ``value``; when it replaced an entry, announce the key on the
        invalidation channel. Returns whether it replaced one."""
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        ttl_ms = max(1, round(ttl_s * 1000))
        old = await self._call(lambda: self._client.set(self._key(key), value, px=ttl_ms, get=True))
        if old is None:
            return False
        await self.publish_invalidation([key])
        return True

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store ``value`` only when the key holds nothing and was not invalidated in
        the last TOMBSTONE_MS (promotion and warming never overwrite a fresher write,
        nor resurrect an entry removed while they copied it)."""
        ttl_ms = max(1, round(ttl_s * 1000))
        names = [self._key(key), self._tomb_key(key)]
        done = await self._call(lambda: self._promote(keys=names, args=[value, ttl_ms]))
        return bool(int(done))

    async def delete(self, keys: Sequence[str], *, tombstone: bool = False) -> int:
        """Remove ``keys``; with ``tombstone`` (an invalidation, not an eviction) a
        promotion in flight cannot copy them back for TOMBSTONE_MS."""
        if not keys:
            return 0
        removed = 0
        args = ["1" if tombstone else "0", TOMBSTONE_MS]
        # One call per key: in a cluster the keys live on different slots.
        for key in keys:
            names = [self._key(key), self._tomb_key(key)]
            removed += int(await self._call(partial(self._delete, keys=names, args=args)))
        await self.publish_invalidation(keys)
        return removed

    async def publish_invalidation(self, keys: Sequence[str]) -> None:
        for key in keys:
            await self._call(partial(self._client.publish, INVALIDATION_CHANNEL, key))

    async def ttl_ms(self, key: str) -> int:
        """Remaining lifetime in ms (-2 absent, -1 no expiry)."""
        return int(await self._call(lambda: self._client.pttl(self._key(key))))

    # --- leases ------------------------------------------------------------------

    async def lease(
        self, key: str, *, ttl_ms: int, holder: str, token: str = "", refresh: bool = False
    ) -> LeaseState:
        """Take (or, with the token, renew) the compute lease for ``key``."""
        fresh = secrets.token_hex(16)
        keys = [self._lease_key(key), self._key(key)]
        args: list[str | int] = [token, holder.replace("|", "/"), ttl_ms, fresh, int(refresh)]
        reply = await self._call(lambda: self._acquire(keys=keys, args=args))
        granted, who, remaining = int(reply[0]), _text(reply[1]), reply[2]
        if granted:
            return LeaseState(granted=True, token=who, holder=holder)
        return LeaseState(
            granted=False,
            holder=who,
            remaining_ms=max(0, int(remaining or 0)),
            entry_exists=bool(int(reply[3])),
        )

    async def release(self, key: str, token: str) -> bool:
        keys = [self._lease_key(key)]
        return bool(await self._call(lambda: self._release(keys=keys, args=[token])))

    async def probe(self, key: str) -> tuple[bytes | None, bool]:
        """(the entry's bytes or None, whether the key's lease is held) in one trip."""
        keys = [self._key(key), self._lease_key(key)]
        reply = await self._call(lambda: self._probe(keys=keys))
        value = reply[0]
        data = value.encode("utf-8") if isinstance(value, str) else value
        return data, bool(int(reply[1]))

    # --- operations --------------------------------------------------------------

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

    async def open_connections(self, count: int) -> int:
        """Open up to ``count`` pooled connections now (single node), so a burst right
        after start finds them instead of waiting, past the pool timeout, behind dozens
        of connects at once. Returns how many were opened; never raises."""
        if self._pool is None:
            return 0
        held: list[Any] = []
        try:
            async with asyncio.timeout(max(1.0, count * 0.05)):
                for _ in range(count):
                    held.append(await self._pool.get_connection())  # type: ignore[no-untyped-call]
        except (RedisError, OSError, TimeoutError):
            pass
        finally:
            for connection in held:
                await self._pool.release(connection)
        return len(held)

    async def used_memory(self) -> int:
        """Redis ``used_memory`` in bytes, from INFO memory (summed over cluster nodes)."""
        info: dict[str, Any] = await self._call(lambda: self._client.info("memory"))
        if "used_memory" in info:
            return int(info["used_memory"])
        return sum(int(node["used_memory"]) for node in info.values() if isinstance(node, dict))

    async def scan_keys(self, match: str = "*", count: int = 500) -> AsyncIterator[str]:
        """Keys matching ``match`` (a glob, without prefix or braces), batch by batch
        with SCAN so a large keyspace never blocks Redis the way KEYS would (over
        every primary in a cluster). A key may be yielded more than once if the
        keyspace changes meanwhile (SCAN's guarantee)."""
        pattern = f"{self._prefix}{{{match}}}"
        start = len(self._prefix) + 1
        if isinstance(self._client, RedisCluster):
            async for raw in self._client.scan_iter(match=pattern, count=count):
                yield _text(raw)[start:-1]
            return
        cursor = 0
        while True:
            cursor, batch = await self._scan_page(cursor, pattern, count)
            for raw in batch:
                yield _text(raw)[start:-1]
            if cursor == 0:
                return

    async def count_entries(self, limit: int) -> tuple[int, bool]:
        """(entries counted by SCAN, whether the count is complete): stops at
        ``limit`` so a huge keyspace costs a bounded number of round trips. SCAN may
        yield a key twice while the keyspace changes: the count is an estimate."""
        counted = 0
        async for _ in self.scan_keys(count=1000):
            counted += 1
            if counted >= limit:
                return counted, False
        return counted, True

    async def _scan_page(
        self, cursor: int, pattern: str, count: int
    ) -> tuple[int, list[bytes | str]]:
        assert isinstance(self._client, aioredis.Redis)
        client = self._client
        page: tuple[int, list[bytes | str]] = await self._call(
            lambda: client.scan(cursor=cursor, match=pattern, count=count)
        )
        return page

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._pool is not None:
            await self._pool.aclose()
