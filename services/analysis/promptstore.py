"""The prompt templates in use: the repository's, or Bedrock Prompt Management's.

Each step (``query``, ``analysis``) always has its repository template. When a
managed prompt is configured for it (``BEDROCK_<STEP>_PROMPT_ID``), ``start`` fetches
it once (GetPrompt through the pooled bedrock-agent client, bounded by
``fetch_timeout_s``) and a background task fetches it again every ``refresh_s``:

* a fetch that succeeds replaces the template (and so its version in the cache key);
* a fetch that fails (unreachable, refused, throttled, timed out) or returns a prompt
  the step cannot use keeps what is in use — the last good managed prompt, or the
  repository template if none was ever fetched — and says so in a warning and in the
  ``prompt_fetches_total{outcome}`` / ``prompt_managed`` metrics. Keeping the last good
  prompt (rather than dropping back to the repository one) keeps cache keys stable
  through a brief outage; after a failure the next try comes sooner
  (``retry_s``) so a start-up failure does not pin the fallback for a whole interval.

Reads (``template``) are plain attribute reads on the event loop: no lock, no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from services.analysis.awspool import AwsClientPool, Throttled
from services.analysis.errors import AwsUnavailable
from services.analysis.prompts import PromptTemplate
from services.analysis.prompts.managed import ManagedPromptInvalid, managed_template

__all__ = ["ManagedPromptRef", "PromptObserver", "PromptSlot", "PromptStore"]

_log = logging.getLogger(__name__)


class PromptObserver(Protocol):
    def prompt_fetched(self, prompt: str, outcome: str) -> None: ...

    def prompt_source(self, prompt: str, managed: bool) -> None: ...


@dataclass(frozen=True)
class ManagedPromptRef:
    identifier: str  # prompt id or ARN
    version: str  # "" = the DRAFT


@dataclass
class PromptSlot:
    """One step's template: the repository one, replaced by the managed one once fetched."""

    name: str  # "query" | "analysis": a bounded metric label
    repository: PromptTemplate
    managed: ManagedPromptRef | None
    supplied: Collection[str]  # variables the provider renders
    required: Collection[str] = ()
    current: PromptTemplate | None = None

    @property
    def template(self) -> PromptTemplate:
        return self.current or self.repository

    @property
    def is_managed(self) -> bool:
        return self.current is not None


class PromptStore:
    def __init__(
        self,
        slots: Collection[PromptSlot],
        pool: AwsClientPool | None,
        *,
        observer: PromptObserver,
        refresh_s: float,
        fetch_timeout_s: float,
        retry_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._slots = {slot.name: slot for slot in slots}
        self._pool = pool
        self._observer = observer
        self._refresh_s = refresh_s
        self._retry_s = min(retry_s, refresh_s)
        self._fetch_timeout_s = fetch_timeout_s
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        if any(s.managed for s in self._slots.values()) and pool is None:
            raise ValueError("a managed prompt needs the bedrock-agent client pool")

    def template(self, name: str) -> PromptTemplate:
        return self._slots[name].template

    async def start(self) -> None:
        """First fetch (bounded), then refresh in the background. Idempotent."""
        if self._task is not None:
            return
        for slot in self._slots.values():
            self._observer.prompt_source(slot.name, slot.is_managed)
        if not self._managed_slots():
            return
        healthy = await self.refresh()
        self._task = asyncio.create_task(self._keep_fresh(healthy), name="prompt-refresh")

    async def refresh(self) -> bool:
        """Fetch every managed prompt once; True when all succeeded."""
        # Side by side (the client pool has a slot for each), so start waits one timeout.
        results = await asyncio.gather(*(self._refresh_slot(s) for s in self._managed_slots()))
        return all(results)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _managed_slots(self) -> list[PromptSlot]:
        return [s for s in self._slots.values() if s.managed is not None]

    async def _keep_fresh(self, healthy: bool) -> None:
        while True:
            await self._sleep(self._refresh_s if healthy else self._retry_s)
            healthy = await self.refresh()

    async def _refresh_slot(self, slot: PromptSlot) -> bool:
        assert slot.managed is not None and self._pool is not None
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                response = await self._pool.call("get_prompt", **_params(slot.managed))
            template = managed_template(response, supplied=slot.supplied, required=slot.required)
        except ManagedPromptInvalid as exc:
            self._failed(slot, "invalid", str(exc))
            return False
        except TimeoutError:
            self._failed(slot, "failed", f"no answer within {self._fetch_timeout_s:.1f} s")
            return False
        except (ClientError, Throttled, AwsUnavailable) as exc:
            self._failed(slot, "failed", _describe(exc))
            return False
        if slot.current is None or slot.current.version != template.version:
            _log.info(
                "prompt in use",
                extra={"prompt": slot.name, "version": template.version},
            )
        slot.current = template
        self._observer.prompt_fetched(slot.name, "ok")
        self._observer.prompt_source(slot.name, True)
        return True

    def _failed(self, slot: PromptSlot, outcome: str, reason: str) -> None:
        _log.warning(
            "managed prompt fetch failed; keeping the %s template %s",
            "last fetched" if slot.is_managed else "repository",
            slot.template.version,
            extra={"prompt": slot.name, "outcome": outcome, "reason": reason[:300]},
        )
        self._observer.prompt_fetched(slot.name, outcome)
        self._observer.prompt_source(slot.name, slot.is_managed)


def _params(ref: ManagedPromptRef) -> dict[str, Any]:
    params: dict[str, Any] = {"promptIdentifier": ref.identifier}
    if ref.version:
        params["promptVersion"] = ref.version
    return params


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}"
    return str(exc)
