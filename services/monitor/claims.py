"""The claim-before-send log in Redis that lets several monitor replicas send each
notification once per receiver.

Key: ``oppsuite:monitor:claim:{receiver}:{group}:{firing|resolved}:{digest}`` where the
digest names the group's alert set (alerts.Notification). ``SET NX PX`` decides the
winner atomically; the key lives for 90 % of the repeat cooldown, which makes it the
window: a replica that evaluates a little later than the winner finds the key and
skips, and the winner's own repeat after one cooldown finds it expired. A claimed
"resolved" deletes the matching "firing" claim, so a new episode with the same alerts
notifies at once instead of waiting out the cooldown.

Redis unreachable (or slower than ``timeout_s``): the claim answers True, i.e. send
anyway. Duplicates from several replicas are preferred to silence (at-least-once while
Redis is down); ``unreachable`` counts it.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.monitor.alerts import Notification

__all__ = ["RedisClaimer"]

log = logging.getLogger(__name__)
_PREFIX = "oppsuite:monitor:claim"


class RedisClaimer:
    def __init__(self, redis: Redis, *, cooldown_s: float, timeout_s: float = 0.5) -> None:
        self._redis = redis
        self._ttl_ms = max(1_000, int(cooldown_s * 900))
        self._timeout_s = timeout_s
        self.won = 0
        self.lost = 0
        self.unreachable = 0

    @staticmethod
    def key(receiver: str, notification: Notification) -> str:
        return f"{_PREFIX}:{receiver}:{notification.key}"

    async def claim(self, receiver: str, notification: Notification) -> bool:
        key = self.key(receiver, notification)
        try:
            async with asyncio.timeout(self._timeout_s):
                won = await self._redis.set(key, "1", nx=True, px=self._ttl_ms)
                if won and notification.kind == "resolved":
                    firing = f"{notification.group}:firing:{notification.digest}"
                    await self._redis.delete(f"{_PREFIX}:{receiver}:{firing}")
        except (RedisError, OSError, TimeoutError) as exc:
            self.unreachable += 1
            log.warning(
                "claim log unreachable; sending anyway (at-least-once)",
                extra={"receiver": receiver, "error": repr(exc)},
            )
            return True
        if won:
            self.won += 1
            return True
        self.lost += 1
        return False

    async def claim_key(self, name: str, ttl_s: float) -> bool:
        """Claim an arbitrary ``name`` (e.g. one period of CloudWatch metrics) for ``ttl_s``."""
        try:
            async with asyncio.timeout(self._timeout_s):
                won = await self._redis.set(f"{_PREFIX}:{name}", "1", nx=True, px=int(ttl_s * 1000))
        except (RedisError, OSError, TimeoutError):
            self.unreachable += 1
            return True
        return bool(won)

    async def aclose(self) -> None:
        await self._redis.aclose()
