"""The embedded provider: no AWS account needed, same SQL shape, same answer format.

Query generation is a template (querygen), retrieval runs the guarded Presto SQL on
DuckDB over a generated Parquet dataset, and analysis is a statistical engine that
writes the sectioned text a model would, so the same parser runs on both providers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from services.analysis import dataset
from services.analysis.engine import write_analysis
from services.analysis.provider import CallAccounting, Row
from services.analysis.querygen import generate_sql
from services.analysis.retrieval import DuckDbRetriever
from services.common.cachekey import Fingerprint
from services.common.domain import Opportunity, Options

__all__ = ["LatencyProfile", "LocalProvider"]

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class LatencyProfile:
    """Per-step delays (seconds, uniform ranges) that resemble real Bedrock and Athena
    calls. For load tests and demos only; off by default."""

    query_generation: tuple[float, float] = (0.0, 0.0)
    data_retrieval: tuple[float, float] = (0.0, 0.0)
    analysis: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def named(cls, name: str, scale: float = 1.0) -> LatencyProfile:
        if name == "off":
            return cls()
        if name == "bedrock":
            return cls(
                query_generation=(1.0 * scale, 2.5 * scale),
                data_retrieval=(1.5 * scale, 4.0 * scale),
                analysis=(4.0 * scale, 9.0 * scale),
            )
        raise ValueError(f"unknown latency profile {name!r}")


class LocalProvider:
    def __init__(
        self,
        data_path: Path,
        *,
        table: str,
        database: str,
        profile: LatencyProfile,
        rng: random.Random,
        today: date | None = None,
    ) -> None:
        self._retriever = DuckDbRetriever(data_path, table=table, database=database)
        self._table = table
        self._profile = profile
        self._rng = rng
        self._today = today
        self._fingerprint = Fingerprint(
            provider="local",
            query_model_id="local-template",
            analysis_model_id="local-statistical",
            query_prompt_version="local-sql-v1",
            analysis_prompt_version="local-analysis-v1",
            schema_version=SCHEMA_VERSION,
            dataset_version=dataset.DATASET_VERSION,
        )

    @classmethod
    async def create(
        cls,
        data_dir: Path,
        *,
        rows: int,
        seed: int,
        table: str,
        database: str,
        profile: LatencyProfile,
        rng: random.Random | None = None,
    ) -> LocalProvider:
        path = await asyncio.to_thread(
            dataset.ensure_dataset,
            data_dir / f"historical_projects_{rows}_{seed}.parquet",
            rows,
            seed,
        )
        return cls(
            path, table=table, database=database, profile=profile, rng=rng or random.Random()
        )

    @property
    def fingerprint(self) -> Fingerprint:
        return self._fingerprint

    async def _delay(self, bounds: tuple[float, float]) -> None:
        low, high = bounds
        if high > 0:
            await asyncio.sleep(self._rng.uniform(low, high))

    async def generate_sql(
        self, opportunity: Opportunity, options: Options, accounting: CallAccounting
    ) -> str:
        await self._delay(self._profile.query_generation)
        return generate_sql(opportunity, options.sql_row_limit, table=self._table)

    async def retrieve(self, sql: str, options: Options, accounting: CallAccounting) -> list[Row]:
        await self._delay(self._profile.data_retrieval)
        return await asyncio.to_thread(self._retriever.run, sql)

    async def analyze(
        self,
        opportunity: Opportunity,
        rows: Sequence[Row],
        options: Options,
        accounting: CallAccounting,
    ) -> str:
        await self._delay(self._profile.analysis)
        accounting.rows_analyzed = len(rows)  # the engine reads every row; no truncation
        today = self._today or date.today()
        return await asyncio.to_thread(write_analysis, opportunity, rows, today=today)

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._retriever.close()
