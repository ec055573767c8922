"""Analysis service settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import (
    CommonSettings,
    env_choice,
    env_float,
    env_int,
    env_str,
)

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    provider: str  # OPPSUITE_PROVIDER: local | aws
    data_dir: Path  # OPPSUITE_DATA_DIR: where the local dataset lives
    dataset_rows: int  # LOCAL_DATASET_ROWS: rows generated on first use
    dataset_seed: int  # LOCAL_DATASET_SEED
    latency_profile: str  # LOCAL_LATENCY_PROFILE: off | bedrock (load tests and demos only)
    latency_scale: float  # LOCAL_LATENCY_SCALE: multiplies the profile's delays
    athena_database: str  # ATHENA_DATABASE
    athena_table: str  # ATHENA_TABLE: the one table generated SQL may read
    query_generation_ms: float  # QUERY_GENERATION_TIMEOUT: step threshold (ms)
    data_retrieval_ms: float  # DATA_RETRIEVAL_TIMEOUT
    analysis_ms: float  # ANALYSIS_TIMEOUT
    total_ms: float  # TOTAL_WORKFLOW_TIMEOUT
    default_deadline_s: float  # REQUEST_DEADLINE_SECONDS: when the caller sets none
    max_concurrent: int  # ANALYSIS_MAX_CONCURRENT: workflows run at once per replica

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            common=CommonSettings.from_env(environ, "ANALYSIS", 50053, 9103),
            provider=env_choice(environ, "OPPSUITE_PROVIDER", "local", {"local", "aws"}),
            data_dir=Path(env_str(environ, "OPPSUITE_DATA_DIR", ".oppsuite/data")),
            dataset_rows=env_int(environ, "LOCAL_DATASET_ROWS", 30_000, minimum=100),
            dataset_seed=env_int(environ, "LOCAL_DATASET_SEED", 20240601),
            latency_profile=env_choice(environ, "LOCAL_LATENCY_PROFILE", "off", {"off", "bedrock"}),
            latency_scale=env_float(environ, "LOCAL_LATENCY_SCALE", 1.0, minimum=0.0),
            athena_database=env_str(environ, "ATHENA_DATABASE", "catapult_db_p"),
            athena_table=env_str(environ, "ATHENA_TABLE", "parquet"),
            query_generation_ms=env_float(environ, "QUERY_GENERATION_TIMEOUT", 5000, minimum=1),
            data_retrieval_ms=env_float(environ, "DATA_RETRIEVAL_TIMEOUT", 10000, minimum=1),
            analysis_ms=env_float(environ, "ANALYSIS_TIMEOUT", 15000, minimum=1),
            total_ms=env_float(environ, "TOTAL_WORKFLOW_TIMEOUT", 30000, minimum=1),
            default_deadline_s=env_float(environ, "REQUEST_DEADLINE_SECONDS", 180, minimum=1),
            max_concurrent=env_int(environ, "ANALYSIS_MAX_CONCURRENT", 100, minimum=1),
        )
