"""Rate limits: GCRA shared by every replica through one Lua script in Redis.

GCRA keeps one number per limit, the theoretical arrival time (TAT). With emission
interval ``T = 60 / per_minute`` and tolerance ``τ = burst * T`` a request at ``now``
is admitted when ``max(TAT, now) + T - now <= τ``; then ``TAT = max(TAT, now) + T``.
From idle that admits exactly ``burst`` requests at once and then one every ``T``:
over ``t`` seconds ``burst + rate * t``. A rejected request must wait exactly
``max(TAT, now) + T - τ - now``, which is the RetryInfo delay.

The client and the global limit are checked in ONE script call, all-or-nothing
(a request rejected by one limit does not consume the other), against Redis' own
clock so replica clocks do not matter: at most one round trip per decision, and
under load concurrent decisions share one (see RedisGcra). Every key shares a hash
tag so the script stays on one Redis Cluster slot.

When Redis fails (or its breaker is open) decisions are made locally against
per-replica buckets of ``limit ÷ replicas``, which start empty (one request, then
the rate: nobody knows how much burst was spent before) (RATE_LIMIT_FAIL_MODE=open),
or every request is refused (closed). When Redis answers again, what was admitted
locally is charged to the shared buckets (CHARGE_LUA), so an outage adds nothing
to the total; the breaker probes Redis again once per cool-down, so
recovery is automatic and no request waits on a dead Redis.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from services.common.breaker import CircuitBreaker
from services.common.microbatch import MicroBatcher
from services.gateway.config import LimitSpec
from services.gateway.errors import LimiterUnavailable, RateLimited

__all__ = [
    "GCRA_LUA",
    "Decision",
    "GcraBackend",
    "LimitCheck",
    "LimiterCounts",
    "LocalGcra",
    "RateLimiter",
    "RedisGcra",
    "gcra_step",
]

log = logging.getLogger(__name__)

KEY_PREFIX = "{oppsuite:rl}:"
MAX_OWED_KEYS = 10000  # one hash tag: the script touches two keys, one slot

# Many decisions in one call, each as if made alone, in order, at the same Redis
# instant. KEYS: the distinct TAT keys of the batch (integer microseconds of Redis
# TIME). ARGV: the number of decisions, then for each: its number of limits n, then
# n triples (index into KEYS, emission interval T, tolerance τ; microseconds).
# Returns, per decision, {allowed (0/1), index of its limit with the longest wait
# (1-based, 0 if allowed), that wait in microseconds}, then Redis now. A decision
# is all-or-nothing: a rejected one consumes none of its limits. Each touched key is
# written once, at the end.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats, dirty, out = {}, {}, {}
local p = 2
for d = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[p])
  p = p + 1
  local worst, which, news = 0, 0, {}
  for j = 1, n do
    local k = tonumber(ARGV[p])
    local interval, tolerance = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
    p = p + 3
    if tats[k] == nil then tats[k] = tonumber(redis.call('GET', KEYS[k]) or now) end
    local tat = tats[k]
    if tat < now then tat = now end
    local wait = tat + interval - tolerance - now
    if wait > worst then worst, which = wait, j end
    news[j] = {k, tat + interval}
  end
  if which > 0 then
    out[#out + 1] = 0
    out[#out + 1] = which
    out[#out + 1] = string.format('%.0f', worst)
  else
    for j = 1, n do
      tats[news[j][1]] = news[j][2]
      dirty[news[j][1]] = true
    end
    out[#out + 1] = 1
    out[#out + 1] = 0
    out[#out + 1] = '0'
  end
end
for k in pairs(dirty) do
  local ttl_ms = math.ceil((tats[k] - now) / 1000) + 1000
  redis.call('SET', KEYS[k], string.format('%.0f', tats[k]), 'PX', ttl_ms)
end
out[#out + 1] = string.format('%.0f', now)
return out
"""

# After an outage: charge each bucket (KEYS[i]) for what replicas admitted locally
# meanwhile (ARGV[i] microseconds = admitted x T), so an outage adds nothing overall.
CHARGE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + tonumber(ARGV[i])
  local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.0f', new_tat), 'PX', ttl_ms)
end
return #KEYS
"""


@dataclass(frozen=True)
class LimitCheck:
    """One limit to check: ``limit`` is client or global, ``subject`` names its owner."""

    limit: str
    subject: str
    key: str
    spec: LimitSpec

    @property
    def interval_s(self) -> float:
        return 60.0 / self.spec.per_minute

    @property
    def tolerance_s(self) -> float:
        return self.spec.burst * self.interval_s


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: str = ""  # the limit that fired (client/global); "" when allowed
    subject: str = ""
    retry_after_s: float = 0.0
    backend: str = "redis"  # redis | local | disabled


def gcra_step(
    tat: float | None, now: float, interval: float, tolerance: float
) -> tuple[float, float]:
    """(new TAT if admitted, wait before admission; 0 = admit now)."""
    base = now if tat is None or tat < now else tat
    new_tat = base + interval
    return new_tat, max(0.0, new_tat - tolerance - now)


class GcraBackend(Protocol):
    async def check(self, checks: Sequence[LimitCheck]) -> tuple[bool, int, float]:
        """(allowed, index of the limit with the longest wait or -1, that wait in s)."""

    async def charge(self, owed_s: Mapping[str, float]) -> None:
        """Moves each key's TAT forward by the given seconds."""


class LimiterBackendError(Exception):
    """The shared backend could not decide (Redis down, slow, or refusing)."""


class LocalGcra:
    """The same algorithm in-process: per-replica buckets while Redis is away.

    A replica that loses Redis cannot know how much of a burst was already spent
    elsewhere, so after ``reset()`` its buckets start with one request available and
    refill at their rate (``start_empty``); otherwise a Redis that flaps would hand
    out a fresh burst on every flip. Bounded: the least recently used bucket goes
    first (an idle bucket is the same as a fresh one once its TAT has passed)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10000,
        start_empty: bool = False,
    ):
        self._clock = clock
        self._max_keys = max_keys
        self._start_empty = start_empty
        self._tats: OrderedDict[str, float] = OrderedDict()

    def reset(self) -> None:
        self._tats.clear()

    async def check(self, checks: Sequence[LimitCheck]) -> tuple[bool, int, float]:
        return self.check_now(checks)

    def check_now(self, checks: Sequence[LimitCheck]) -> tuple[bool, int, float]:
        now = self._clock()
        steps = [
            gcra_step(
                self._tats.get(c.key, self._initial(c, now)), now, c.interval_s, c.tolerance_s
            )
            for c in checks
        ]
        worst = max(range(len(steps)), key=lambda i: steps[i][1], default=-1)
        if worst >= 0 and steps[worst][1] > 0:
            return False, worst, steps[worst][1]
        for check, (new_tat, _) in zip(checks, steps, strict=True):
            self._tats[check.key] = new_tat
            self._tats.move_to_end(check.key)
        while len(self._tats) > self._max_keys:
            self._tats.popitem(last=False)
        return True, -1, 0.0

    def _initial(self, check: LimitCheck, now: float) -> float | None:
        if not self._start_empty:
            return None
        return now + check.tolerance_s - check.interval_s  # exactly one request available


class RedisGcra:
    """GCRA_LUA over redis.asyncio: EVALSHA, loading the script when Redis answers
    NOSCRIPT (first use, or after a restart). Tight timeouts, no client retries.

    Concurrent decisions share a round trip: one goes out at once, and those that
    arrive while it is out go together in the next script call (MicroBatcher), so
    under load a decision costs a fraction of a round trip and at rest nothing waits.
    Each decision is still made alone and exactly, in arrival order."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.05,
        max_connections: int = 32,
        max_batch: int = 64,
        max_in_flight: int = 2,
    ) -> None:
        self._timeout_s = timeout_s
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            # The budget is enforced around the whole call (asyncio.timeout below): a
            # socket timeout makes redis-py send each command through asyncio.wait_for.
            socket_timeout=None,
            socket_connect_timeout=timeout_s,
            # One immediate retry on a broken connection only: after a Redis restart
            # every pooled socket is dead, and that must not look like an outage.
            # Timeouts are not retried: they would double the worst case.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._client = aioredis.Redis(connection_pool=self._pool)
        self._sha: str | None = None
        self._batcher: MicroBatcher[Sequence[LimitCheck], tuple[bool, int, float]] = MicroBatcher(
            self._check_many, max_batch=max_batch, max_in_flight=max_in_flight
        )
        self.round_trips = 0

    @property
    def decisions(self) -> int:
        """Decisions sent to Redis (``round_trips`` / ``decisions`` is the cost of one)."""
        return self._batcher.items

    async def check(self, checks: Sequence[LimitCheck]) -> tuple[bool, int, float]:
        return await self._batcher.submit(checks)

    async def _check_many(self, batch: list[Sequence[LimitCheck]]) -> list[tuple[bool, int, float]]:
        index: dict[str, int] = {}
        args: list[int] = [len(batch)]
        for checks in batch:
            args.append(len(checks))
            for c in checks:
                position = index.setdefault(c.key, len(index) + 1)
                args += [position, round(c.interval_s * 1e6), round(c.tolerance_s * 1e6)]
        try:
            # Pool wait and round trip together: a decision never waits long.
            async with asyncio.timeout(self._timeout_s * 2):
                reply = await self._eval(list(index), args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterBackendError(str(exc) or type(exc).__name__) from exc
        return [
            (bool(int(reply[i])), int(reply[i + 1]) - 1, int(reply[i + 2]) / 1e6)
            for i in range(0, 3 * len(batch), 3)
        ]

    async def _eval(self, keys: list[str], args: list[int]) -> list[bytes | int]:
        if self._sha is not None:
            self.round_trips += 1
            try:
                return await self._client.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]
            except NoScriptError:
                pass  # Redis restarted (or flushed scripts): load it again below
        self.round_trips += 1
        self._sha = str(await self._client.script_load(GCRA_LUA))
        self.round_trips += 1
        return await self._client.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]

    async def charge(self, owed_s: Mapping[str, float]) -> None:
        keys = list(owed_s)
        args = [round(owed_s[k] * 1e6) for k in keys]
        self.round_trips += 1
        try:
            async with asyncio.timeout(self._timeout_s * 3):
                await self._client.eval(CHARGE_LUA, len(keys), *keys, *args)  # type: ignore[misc]
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterBackendError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._batcher.aclose()
        await self._client.aclose()
        await self._pool.aclose()


@dataclass
class LimiterCounts:
    """Plain counters, read by the Prometheus collector and GetPerformance."""

    decisions: dict[tuple[str, str], int]  # (backend, outcome) → count
    rejected_by_limit: dict[str, int]
    shadow_rejected_by_limit: dict[str, int]
    backend_errors: int = 0
    outages_settled: int = 0


def _scaled(spec: LimitSpec, replicas: int) -> LimitSpec:
    return LimitSpec(spec.per_minute / replicas, max(1, math.ceil(spec.burst / replicas)))


class RateLimiter:
    """Decides for one request: the caller's client limit and the global limit."""

    def __init__(
        self,
        backend: GcraBackend | None,
        *,
        global_limit: LimitSpec,
        client_limit: LimitSpec,
        overrides: Mapping[str, LimitSpec] | None = None,
        replicas: int = 1,
        fail_mode: str = "open",
        shadow: bool = False,
        breaker: CircuitBreaker | None = None,
        local: LocalGcra | None = None,
    ) -> None:
        self._backend = backend
        self._global = global_limit
        self._client = client_limit
        self._overrides = dict(overrides or {})
        self._replicas = replicas
        self._fail_mode = fail_mode
        self.shadow = shadow
        self.breaker = breaker or CircuitBreaker(failure_threshold=3, cool_down_s=1.0)
        self._local = local or LocalGcra(start_empty=backend is not None)
        self._redis_was_answering = True
        # Seconds of each shared bucket used by local admissions during an outage.
        self._owed_s: dict[str, float] = {}
        self.counts = LimiterCounts({}, {}, {})

    @property
    def degraded(self) -> bool:
        """True while decisions are made without Redis."""
        return self._backend is not None and self.breaker.is_open

    def limit_for(self, client_id: str) -> LimitSpec:
        return self._overrides.get(client_id, self._client)

    def _checks(self, client_id: str, replicas: int = 1) -> list[LimitCheck]:
        client_spec, global_spec = self.limit_for(client_id), self._global
        if replicas > 1:
            client_spec, global_spec = (
                _scaled(client_spec, replicas),
                _scaled(global_spec, replicas),
            )
        return [
            LimitCheck("client", f"client:{client_id}", f"{KEY_PREFIX}c:{client_id}", client_spec),
            LimitCheck("global", "global", f"{KEY_PREFIX}global", global_spec),
        ]

    async def decide(self, client_id: str) -> Decision:
        """The decision, without enforcing it."""
        if self._backend is not None and self.breaker.allow():
            checks = self._checks(client_id)
            try:
                allowed, which, wait = await self._backend.check(checks)
            except LimiterBackendError as exc:
                self.counts.backend_errors += 1
                if self._redis_was_answering:
                    self._local.reset()  # each outage starts from empty local buckets
                    self._redis_was_answering = False
                was_open = self.breaker.is_open
                self.breaker.record_failure()
                if self.breaker.is_open and not was_open:
                    log.warning(
                        "limiter Redis unavailable; deciding locally", extra={"error": str(exc)}
                    )
            else:
                if self.breaker.is_open:
                    log.info("limiter Redis reachable again")
                self.breaker.record_success()
                self._redis_was_answering = True
                if self._owed_s:
                    await self._settle_outage()
                return self._decision(checks, allowed, which, wait, "redis")
        if self._backend is not None and self._fail_mode == "closed":
            raise LimiterUnavailable(
                "the rate limiter cannot reach its store and is configured to fail closed",
                retry_after_s=max(0.1, self.breaker.retry_after_s()),
            )
        replicas = self._replicas if self._backend is not None else 1
        checks = self._checks(client_id, replicas)
        allowed, which, wait = self._local.check_now(checks)
        if allowed and self._backend is not None:
            self._owe(self._checks(client_id))
        return self._decision(checks, allowed, which, wait, "local")

    def _owe(self, shared: Sequence[LimitCheck]) -> None:
        for check in shared:
            if check.key in self._owed_s or len(self._owed_s) < MAX_OWED_KEYS:
                self._owed_s[check.key] = self._owed_s.get(check.key, 0.0) + check.interval_s

    async def _settle_outage(self) -> None:
        owed, self._owed_s = self._owed_s, {}
        assert self._backend is not None
        try:
            await self._backend.charge(owed)
        except LimiterBackendError:
            log.warning("could not charge the shared limits for the outage")
        else:
            self.counts.outages_settled += 1

    def _decision(
        self, checks: Sequence[LimitCheck], allowed: bool, which: int, wait: float, backend: str
    ) -> Decision:
        if allowed:
            return Decision(True, backend=backend)
        check = checks[which]
        return Decision(False, check.limit, check.subject, wait, backend)

    async def enforce(self, client_id: str) -> Decision:
        """Raises RateLimited when a limit fires (shadow mode: counts and admits)."""
        decision = await self.decide(client_id)
        outcome = "allowed" if decision.allowed else "rejected"
        if not decision.allowed and self.shadow:
            outcome = "shadow_rejected"
            by_limit = self.counts.shadow_rejected_by_limit
            by_limit[decision.limit] = by_limit.get(decision.limit, 0) + 1
        elif not decision.allowed:
            by_limit = self.counts.rejected_by_limit
            by_limit[decision.limit] = by_limit.get(decision.limit, 0) + 1
        key = (decision.backend, outcome)
        self.counts.decisions[key] = self.counts.decisions.get(key, 0) + 1
        if decision.allowed or self.shadow:
            return decision
        spec = self.limit_for(decision.subject.removeprefix("client:"))
        described = spec.describe() if decision.limit == "client" else self._global.describe()
        raise RateLimited(
            f"{decision.limit} rate limit ({described}) exceeded; "
            f"retry in {decision.retry_after_s:.3f} s",
            limit=decision.limit,
            subject=decision.subject,
            retry_after_s=decision.retry_after_s,
        )
