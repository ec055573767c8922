"""The DynamoDB tier (L2): durable, shared by every replica, slower than Redis.

One long-lived boto3 client (botocore ``Config`` with connect/read timeouts, adaptive
retries and ``max_pool_connections``) is called from a bounded thread pool: an
``asyncio.Semaphore`` of the pool's size is held until the thread finishes, so a slow
DynamoDB can never pile up unbounded work, while the awaiting request gives up at its
own deadline (``timeout_s``) and never stalls past it.

Item layout (table key ``pk``, a string)::

    pk      the cache key
    v       the envelope bytes (services.cache.envelope; large values compressed)
    conf    the analysis' confidence score (0-100), for conditional writes
    exp     expires_at as a Unix time with fractions, checked on every read
    ttl     exp rounded up to whole seconds: the table's TTL attribute. DynamoDB
            deletes expired items up to days late, so reads never trust it alone.
    size    len(v)

Writes are conditional: an item is replaced only when it is absent, expired, or
carries a confidence no higher than the new one, so a lower-confidence result never
replaces a better unexpired one. Batches are chunked to DynamoDB's limits (100 reads,
25 writes), duplicates removed with the first position kept, unprocessed items
retried with jittered backoff until the deadline, and every key gets its own outcome.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from services.cache.errors import TierUnavailable
from services.common.breaker import CircuitBreaker

__all__ = [
    "BATCH_READ_LIMIT",
    "BATCH_WRITE_LIMIT",
    "DynamoTier",
    "L2Read",
    "L2Write",
    "ReadStatus",
    "WriteStatus",
]

BATCH_READ_LIMIT = 100
BATCH_WRITE_LIMIT = 25

ReadStatus = Literal["hit", "miss", "expired", "error"]
WriteStatus = Literal["stored", "rejected", "error"]

_T = TypeVar("_T")
_NOT_FOUND = {"ResourceNotFoundException"}
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Names go through placeholders: SIZE and TTL are DynamoDB reserved words.
_NAMES = {"#pk": "pk", "#v": "v", "#c": "conf", "#e": "exp", "#s": "size"}
_PROJECTION = "#pk, #v, #c, #e, #s"


@dataclass(frozen=True)
class L2Read:
    status: ReadStatus
    value: bytes | None = None
    expires_at: float = 0.0
    confidence: float = 0.0


@dataclass(frozen=True)
class L2Write:
    key: str
    value: bytes
    confidence: float
    expires_at: float


def _item(write: L2Write) -> dict[str, Any]:
    return {
        "pk": {"S": write.key},
        "v": {"B": write.value},
        "conf": {"N": repr(float(write.confidence))},
        "exp": {"N": repr(float(write.expires_at))},
        "ttl": {"N": str(math.ceil(write.expires_at))},
        "size": {"N": str(len(write.value))},
    }


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class DynamoTier:
    name = "dynamodb"

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        breaker: CircuitBreaker,
        pool_size: int = 16,
        timeout_s: float = 0.15,
        batch_deadline_s: float = 2.0,
        create_table: bool = True,
        ping_timeout_s: float = 1.5,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        """``client`` is a boto3 DynamoDB client (or a thin wrapper of one);
        ``clock`` is wall-clock seconds, the same clock the store stamps entries with."""
        self._client = client
        self.table = table
        self.breaker = breaker
        self._timeout_s = timeout_s
        self._batch_deadline_s = batch_deadline_s
        self._create_table = create_table
        self._ping_timeout_s = ping_timeout_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="dynamodb")
        self._slots = asyncio.Semaphore(pool_size)
        self.unprocessed_retries = 0

    # --- plumbing ----------------------------------------------------------------

    async def _run(self, call: Callable[[], _T], timeout_s: float | None = None) -> _T:
        """Run a blocking boto3 call in the pool, failing with TierUnavailable at
        ``timeout_s``. The slot stays taken until the thread really finishes."""
        if not self.breaker.allow():
            raise TierUnavailable(
                "dynamodb circuit is open",
                tier=self.name,
                retry_after_s=self.breaker.retry_after_s(),
            )
        budget = self._timeout_s if timeout_s is None else timeout_s
        try:
            return await asyncio.wait_for(self._submit(call), timeout=budget)
        except TimeoutError as exc:
            self.breaker.record_failure()
            raise TierUnavailable(
                f"dynamodb did not answer within {budget * 1000:.0f} ms", tier=self.name
            ) from exc
        except (BotoCoreError, ClientError) as exc:
            # A missing table counts as a failure too: the health loop's ping
            # re-creates it (when allowed) and closes the breaker.
            self.breaker.record_failure()
            raise TierUnavailable(f"dynamodb unavailable: {exc}", tier=self.name) from exc

    async def _submit(self, call: Callable[[], _T]) -> _T:
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, call)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._finished)
        # shield: a caller that gives up must not cancel the bookkeeping above.
        result = await asyncio.shield(future)
        self.breaker.record_success()
        return result

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._slots.release()
        # A caller that timed out no longer awaits this future: fetch its outcome
        # here so a late failure is not logged as "never retrieved".
        if not future.cancelled():
            future.exception()

    def _read(self, item: dict[str, Any] | None) -> L2Read:
        if not item:
            return L2Read("miss")
        expires_at = float(item["exp"]["N"])
        confidence = float(item.get("conf", {}).get("N", "0"))
        if expires_at <= self._clock():
            return L2Read("expired", expires_at=expires_at, confidence=confidence)
        return L2Read("hit", bytes(item["v"]["B"]), expires_at, confidence)

    # --- table -------------------------------------------------------------------

    def _ensure_table_sync(self) -> None:
        try:
            self._client.describe_table(TableName=self.table)
            return
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND or not self._create_table:
                raise
        try:
            self._client.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if _error_code(exc) != "ResourceInUseException":  # another replica won
                raise
        self._client.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 20}
        )
        self._client.update_time_to_live(
            TableName=self.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
        )

    async def ping(self) -> bool:
        """Whether the table answers now (creating it when missing and allowed).
        Goes out even while the breaker is open, so a recovery closes it; takes a
        pool slot like every call, so pings of a hung endpoint cannot pile up."""
        try:
            await asyncio.wait_for(
                self._submit(self._ensure_table_sync), timeout=self._ping_timeout_s
            )
        except (TimeoutError, BotoCoreError, ClientError):
            self.breaker.record_failure()
            return False
        self.breaker.record_success()
        return True

    async def approximate_count(self) -> int:
        """DescribeTable's ItemCount: DynamoDB refreshes it about every six hours, and
        it still includes expired items its TTL sweep has not deleted yet."""
        reply: dict[str, Any] = await self._run(
            lambda: self._client.describe_table(TableName=self.table), timeout_s=5.0
        )
        return int(reply["Table"].get("ItemCount", 0))

    # --- single items ------------------------------------------------------------

    async def get(self, key: str) -> L2Read:
        reply: dict[str, Any] = await self._run(
            lambda: self._client.get_item(
                TableName=self.table,
                Key={"pk": {"S": key}},
                ProjectionExpression=_PROJECTION,
                ExpressionAttributeNames=_NAMES,
            )
        )
        return self._read(reply.get("Item"))

    async def put(self, write: L2Write, timeout_s: float | None = None) -> bool:
        """Store ``write`` unless a better unexpired item exists; False when it does."""
        item = _item(write)

        def call() -> bool:
            try:
                self._client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#pk) OR #e <= :now OR #c <= :conf",
                    ExpressionAttributeNames={"#pk": "pk", "#e": "exp", "#c": "conf"},
                    ExpressionAttributeValues={
                        ":now": {"N": repr(float(self._clock()))},
                        ":conf": item["conf"],
                    },
                )
            except ClientError as exc:
                if _error_code(exc) == _CONDITION_FAILED:
                    return False
                raise
            return True

        return await self._run(call, timeout_s)

    async def delete(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; returns how many held an unexpired item. Chunks of 25 run
        in parallel on the bounded pool (DeleteItem, so each removal is counted)."""
        unique = list(dict.fromkeys(keys))

        def call(chunk: list[str]) -> int:
            removed = 0
            for key in chunk:
                reply = self._client.delete_item(
                    TableName=self.table, Key={"pk": {"S": key}}, ReturnValues="ALL_OLD"
                )
                if self._read(reply.get("Attributes")).status == "hit":
                    removed += 1
            return removed

        chunks = [
            unique[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(unique), BATCH_WRITE_LIMIT)
        ]
        counts = await asyncio.gather(
            *(self._run(partial(call, chunk), self._batch_deadline_s) for chunk in chunks)
        )
        return sum(counts)

    # --- batches -----------------------------------------------------------------

    async def batch_get(self, keys: Sequence[str], deadline_s: float | None = None) -> list[L2Read]:
        """One result per requested key, in request order (duplicates share one read).
        Keys still unprocessed at the deadline, or in a chunk that failed, are "error"."""
        unique = list(dict.fromkeys(keys))
        deadline = time.monotonic() + (deadline_s or self._batch_deadline_s)
        found: dict[str, L2Read] = {}
        chunks = [unique[i : i + BATCH_READ_LIMIT] for i in range(0, len(unique), BATCH_READ_LIMIT)]
        outcomes = await asyncio.gather(
            *(self._batch_get_chunk(chunk, deadline) for chunk in chunks), return_exceptions=True
        )
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, TierUnavailable):
                    raise outcome
                found.update((k, L2Read("error")) for k in chunk)
            else:
                found.update(outcome)
        return [found.get(k, L2Read("error")) for k in keys]

    async def _batch_get_chunk(self, chunk: list[str], deadline: float) -> dict[str, L2Read]:
        pending: dict[str, Any] = {
            self.table: {
                "Keys": [{"pk": {"S": k}} for k in chunk],
                "ProjectionExpression": _PROJECTION,
                "ExpressionAttributeNames": _NAMES,
            }
        }
        results: dict[str, L2Read] = {}
        attempt = 0
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            request = pending
            reply: dict[str, Any] = await self._run(
                partial(self._client.batch_get_item, RequestItems=request), left
            )
            for item in reply.get("Responses", {}).get(self.table, []):
                results[item["pk"]["S"]] = self._read(item)
            pending = reply.get("UnprocessedKeys") or {}
            if pending:
                attempt += 1
                self.unprocessed_retries += 1
                await self._backoff(attempt, deadline)
        unanswered = {k["pk"]["S"] for k in pending.get(self.table, {}).get("Keys", [])}
        for key in chunk:
            if key not in results:
                results[key] = L2Read("error") if key in unanswered else L2Read("miss")
        return results

    async def batch_put(
        self, writes: Sequence[L2Write], deadline_s: float | None = None
    ) -> list[WriteStatus]:
        """One status per write, in order; for a key given twice the last write wins.

        BatchWriteItem takes no conditions, so the confidence rule is checked by a
        batch read first; a concurrent single ``put`` between that read and the write
        could still be replaced (documented in docs/cache.md)."""
        deadline = time.monotonic() + (deadline_s or self._batch_deadline_s)
        last = {w.key: w for w in writes}
        current = await self.batch_get(list(last), max(0.001, deadline - time.monotonic()))
        statuses: dict[str, WriteStatus] = {}
        accepted: list[L2Write] = []
        for write, now in zip(last.values(), current, strict=True):
            if now.status == "error":
                statuses[write.key] = "error"
            elif now.status == "hit" and now.confidence > write.confidence:
                statuses[write.key] = "rejected"
            else:
                accepted.append(write)
        chunks = [
            accepted[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(accepted), BATCH_WRITE_LIMIT)
        ]
        outcomes = await asyncio.gather(
            *(self._batch_put_chunk(chunk, deadline) for chunk in chunks), return_exceptions=True
        )
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, TierUnavailable):
                    raise outcome
                statuses.update((w.key, "error") for w in chunk)
            else:
                statuses.update(outcome)
        return [statuses.get(w.key, "error") for w in writes]

    async def _batch_put_chunk(
        self, chunk: list[L2Write], deadline: float
    ) -> dict[str, WriteStatus]:
        pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": _item(w)}} for w in chunk]}
        attempt = 0
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            request = pending
            reply: dict[str, Any] = await self._run(
                partial(self._client.batch_write_item, RequestItems=request), left
            )
            pending = reply.get("UnprocessedItems") or {}
            if pending:
                attempt += 1
                self.unprocessed_retries += 1
                await self._backoff(attempt, deadline)
        unwritten = {r["PutRequest"]["Item"]["pk"]["S"] for r in pending.get(self.table, []) if r}
        return {w.key: ("error" if w.key in unwritten else "stored") for w in chunk}

    async def _backoff(self, attempt: int, deadline: float) -> None:
        # Full jitter (AWS's recommendation for unprocessed items), never past the deadline.
        delay = self._rng.uniform(0, min(0.5, 0.01 * 2**attempt))
        await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    # --- scanning ----------------------------------------------------------------

    async def scan(self, page_size: int = 100) -> AsyncIterator[tuple[str, L2Read, int]]:
        """Every item as (key, read, stored size), page by page."""
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "Limit": page_size,
                "ProjectionExpression": _PROJECTION,
                "ExpressionAttributeNames": _NAMES,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page: dict[str, Any] = await self._run(
                partial(self._client.scan, **kwargs), self._batch_deadline_s
            )
            for item in page.get("Items", []):
                yield item["pk"]["S"], self._read(item), int(item.get("size", {}).get("N", "0"))
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
