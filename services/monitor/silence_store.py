"""Where silences live: this replica's memory, or Redis so every replica mutes the same alerts.

With several replicas a silence must mute on all of them: whichever replica wins a
notification's claim decides whether it is muted. ``RedisSilenceStore`` keeps the
silences in one Redis hash (id → JSON) as the source of truth; create and delete write
there first, and every evaluation refreshes the local copy (so a silence created or
deleted on another replica takes effect within one evaluation interval). Expired
entries are removed on refresh. If Redis is unreachable, create/delete fail with
UNAVAILABLE (a silence that only one replica knows would mute at random) and the
evaluator keeps the last copy it read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.errors import DependencyUnavailable
from services.monitor.errors import SilenceNotFound
from services.monitor.silences import Matcher, Silence, Silences

__all__ = ["LocalSilenceStore", "RedisSilenceStore", "SilenceStore"]

log = logging.getLogger(__name__)
_KEY = "oppsuite:monitor:silences"


class SilenceStore(Protocol):
    silences: Silences

    async def create(
        self,
        matchers: Sequence[Matcher],
        *,
        ends_at: float,
        duration_s: float,
        author: str,
        reason: str,
    ) -> Silence: ...

    async def delete(self, silence_id: str) -> Silence: ...

    async def refresh(self) -> None: ...


class LocalSilenceStore:
    """A single replica: the silences are only in memory."""

    def __init__(self, silences: Silences) -> None:
        self.silences = silences

    async def create(
        self,
        matchers: Sequence[Matcher],
        *,
        ends_at: float,
        duration_s: float,
        author: str,
        reason: str,
    ) -> Silence:
        return self.silences.create(
            matchers, ends_at=ends_at, duration_s=duration_s, author=author, reason=reason
        )

    async def delete(self, silence_id: str) -> Silence:
        return self.silences.delete(silence_id)

    async def refresh(self) -> None:
        return None


def _encode(silence: Silence) -> str:
    return json.dumps(
        {
            "id": silence.id,
            "matchers": [[m.name, m.value, m.regex] for m in silence.matchers],
            "starts_at": silence.starts_at,
            "ends_at": silence.ends_at,
            "author": silence.author,
            "reason": silence.reason,
        }
    )


def _decode(raw: str | bytes) -> Silence:
    data: dict[str, Any] = json.loads(raw)
    return Silence(
        id=str(data["id"]),
        matchers=tuple(Matcher(str(n), str(v), bool(r)) for n, v, r in data["matchers"]),
        starts_at=float(data["starts_at"]),
        ends_at=float(data["ends_at"]),
        author=str(data["author"]),
        reason=str(data["reason"]),
    )


class RedisSilenceStore:
    def __init__(self, silences: Silences, redis: Redis, *, timeout_s: float = 0.5) -> None:
        self.silences = silences
        self._redis = redis
        self._timeout_s = timeout_s

    async def create(
        self,
        matchers: Sequence[Matcher],
        *,
        ends_at: float,
        duration_s: float,
        author: str,
        reason: str,
    ) -> Silence:
        silence = self.silences.build(
            matchers, ends_at=ends_at, duration_s=duration_s, author=author, reason=reason
        )
        await self._call(self._redis.hset(_KEY, silence.id, _encode(silence)))
        self.silences.add(silence)
        return silence

    async def delete(self, silence_id: str) -> Silence:
        raw = await self._call(self._redis.hget(_KEY, silence_id))
        if raw is None:
            raise SilenceNotFound(f"no active silence {silence_id!r}")
        await self._call(self._redis.hdel(_KEY, silence_id))
        await self.refresh()
        return _decode(raw)

    async def refresh(self) -> None:
        try:
            entries = await self._call(self._redis.hgetall(_KEY))
        except DependencyUnavailable:
            return  # keep the last copy; logged by _call
        active: list[Silence] = []
        expired: list[Silence] = []
        for key, raw in entries.items():
            try:
                silence = _decode(raw)
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed silence in Redis", extra={"id": repr(key)})
                continue
            (active if silence.ends_at > self.silences.now() else expired).append(silence)
        self.silences.replace_all(active)
        if expired:
            await self._call(self._redis.hdel(_KEY, *(s.id for s in expired)))

    async def _call(self, awaitable: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("silence store unreachable", extra={"error": repr(exc)})
            raise DependencyUnavailable(
                "silences are shared through Redis, which is unreachable; retry shortly",
                retry_after_s=1.0,
            ) from exc
