"""The port every analysis backend implements (local now, AWS later)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.common.cachekey import Fingerprint
from services.common.domain import Opportunity, Options

__all__ = ["CallAccounting", "Provider", "Row"]

Row = dict[str, object]


@dataclass
class CallAccounting:
    """What one analysis cost in external calls; the local provider makes none."""

    calls_by_operation: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls_by_operation.values())


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
