"""The port every analysis backend implements (local and aws)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from services.common.cachekey import Fingerprint
from services.common.domain import Opportunity, Options

__all__ = ["STEP_DEADLINE", "CallAccounting", "Provider", "Row"]

Row = dict[str, object]

# time.monotonic() at which the running step must be done. The workflow sets it per
# step, so a provider can tell "back off and retry" from "give up now" without the
# Provider signatures carrying a deadline through every call.
STEP_DEADLINE: ContextVar[float | None] = ContextVar("step_deadline", default=None)


@dataclass
class CallAccounting:
    """What one analysis cost in external calls; the local provider makes none.

    Written from the worker threads that run SDK calls (botocore event hooks), so
    every update takes the lock."""

    calls_by_operation: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    athena_bytes_scanned: int = 0
    lambda_billed_ms: float = 0.0
    aws_ms: float = 0.0  # wall time spent inside AWS calls (pool wait excluded)
    # The part of aws_ms spent in the SDK call on its worker thread: aws_ms minus this
    # is the hand-off to the thread and back to a (possibly busy) event loop.
    aws_sdk_ms: float = 0.0
    pool_wait_ms: float = 0.0  # time spent waiting for a pool slot
    rows_analyzed: int = 0  # rows that fitted the model's input budget
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls_by_operation.values())

    def count_call(self, operation: str) -> None:
        with self._lock:
            self.calls_by_operation[operation] = self.calls_by_operation.get(operation, 0) + 1

    def add(
        self,
        *,
        cost_usd: float = 0.0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        athena_bytes_scanned: int = 0,
        lambda_billed_ms: float = 0.0,
        aws_ms: float = 0.0,
        aws_sdk_ms: float = 0.0,
        pool_wait_ms: float = 0.0,
    ) -> None:
        with self._lock:
            self.cost_usd += cost_usd
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.athena_bytes_scanned += athena_bytes_scanned
            self.lambda_billed_ms += lambda_billed_ms
            self.aws_ms += aws_ms
            self.aws_sdk_ms += aws_sdk_ms
            self.pool_wait_ms += pool_wait_ms


class Provider(Protocol):
    @property
    def fingerprint(self) -> Fingerprint: ...

    async def generate_sql(
        self, opportunity: Opportunity, options: Options, accounting: CallAccounting
    ) -> str: ...

    async def retrieve(
        self, sql: str, options: Options, accounting: CallAccounting
    ) -> list[Row]: ...

    async def analyze(
        self,
        opportunity: Opportunity,
        rows: Sequence[Row],
        options: Options,
        accounting: CallAccounting,
    ) -> str: ...

    async def ready(self) -> bool: ...

    async def aclose(self) -> None: ...
