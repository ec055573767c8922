"""Analysis service settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import (
    CommonSettings,
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
)

__all__ = ["AwsSettings", "PoolBounds", "Prices", "Settings", "cli_analysis_address"]


@dataclass(frozen=True)
class PoolBounds:
    """One AWS service's pool: starts at ``size`` and adapts within [minimum, maximum]."""

    size: int  # <SVC>_POOL_SIZE
    minimum: int  # <SVC>_POOL_MIN
    maximum: int  # <SVC>_POOL_MAX

    @classmethod
    def from_env(cls, environ: Mapping[str, str], prefix: str, default: int) -> PoolBounds:
        size = env_int(environ, f"{prefix}_POOL_SIZE", default, minimum=1, maximum=1000)
        minimum = env_int(environ, f"{prefix}_POOL_MIN", max(1, size // 5), minimum=1)
        maximum = env_int(environ, f"{prefix}_POOL_MAX", size * 2, minimum=1, maximum=1000)
        if not minimum <= size <= maximum:
            raise SettingsError(
                f"{prefix}_POOL_MIN <= {prefix}_POOL_SIZE <= {prefix}_POOL_MAX must hold, "
                f"got {minimum} <= {size} <= {maximum}"
            )
        return cls(size, minimum, maximum)


@dataclass(frozen=True)
class Prices:
    """USD list prices; defaults are on-demand us-east-1 figures, override per deployment."""

    bedrock_input_per_1k_tokens: float  # PRICE_BEDROCK_INPUT_PER_1K_TOKENS
    bedrock_output_per_1k_tokens: float  # PRICE_BEDROCK_OUTPUT_PER_1K_TOKENS
    athena_per_tb_scanned: float  # PRICE_ATHENA_PER_TB_SCANNED
    athena_min_bytes: int  # ATHENA_MIN_BILLED_BYTES: Athena bills at least 10 MB a query
    lambda_per_gb_second: float  # PRICE_LAMBDA_PER_GB_SECOND
    lambda_per_request: float  # PRICE_LAMBDA_PER_REQUEST
    lambda_memory_mb: int  # LAMBDA_MEMORY_MB: the function's configured memory

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Prices:
        return cls(
            bedrock_input_per_1k_tokens=env_float(
                environ, "PRICE_BEDROCK_INPUT_PER_1K_TOKENS", 0.003, minimum=0
            ),
            bedrock_output_per_1k_tokens=env_float(
                environ, "PRICE_BEDROCK_OUTPUT_PER_1K_TOKENS", 0.015, minimum=0
            ),
            athena_per_tb_scanned=env_float(environ, "PRICE_ATHENA_PER_TB_SCANNED", 5.0, minimum=0),
            athena_min_bytes=env_int(environ, "ATHENA_MIN_BILLED_BYTES", 10_485_760, minimum=0),
            lambda_per_gb_second=env_float(
                environ, "PRICE_LAMBDA_PER_GB_SECOND", 0.0000166667, minimum=0
            ),
            lambda_per_request=env_float(environ, "PRICE_LAMBDA_PER_REQUEST", 0.0000002, minimum=0),
            lambda_memory_mb=env_int(environ, "LAMBDA_MEMORY_MB", 1024, minimum=128),
        )


def _prompt_version(environ: Mapping[str, str], name: str) -> str:
    # Bedrock versions are numbers; the DRAFT is asked for by leaving the version out.
    value = env_str(environ, name, "")
    if value and not (value.isdigit() or value == "DRAFT"):
        raise SettingsError(f"{name} must be a prompt version number or DRAFT, got {value!r}")
    return "" if value == "DRAFT" else value


@dataclass(frozen=True)
class AwsSettings:
    """The aws provider. Region, credentials and endpoints come from the SDK's own
    configuration (AWS_REGION, the credential chain, AWS_ENDPOINT_URL_<SERVICE>)."""

    query_model_id: str  # BEDROCK_QUERY_MODEL_ID
    analysis_model_id: str  # BEDROCK_ANALYSIS_MODEL_ID
    query_prompt: str  # BEDROCK_QUERY_PROMPT: versioned template name in services/analysis/prompts
    analysis_prompt: str  # BEDROCK_ANALYSIS_PROMPT
    query_prompt_id: str  # BEDROCK_QUERY_PROMPT_ID: Prompt Management id/ARN ("" = repo only)
    query_prompt_version: str  # BEDROCK_QUERY_PROMPT_VERSION: number ("" = the DRAFT)
    analysis_prompt_id: str  # BEDROCK_ANALYSIS_PROMPT_ID
    analysis_prompt_version: str  # BEDROCK_ANALYSIS_PROMPT_VERSION
    prompt_refresh_s: float  # BEDROCK_PROMPT_REFRESH_SECONDS: refetch managed prompts this often
    prompt_fetch_timeout_s: float  # BEDROCK_PROMPT_FETCH_TIMEOUT_SECONDS: bound of one GetPrompt
    max_output_tokens: int  # BEDROCK_MAX_OUTPUT_TOKENS
    context_tokens: int  # BEDROCK_CONTEXT_TOKENS: the analysis model's context window
    chars_per_token: float  # BEDROCK_CHARS_PER_TOKEN: estimate used against the context
    workgroup: str  # ATHENA_WORKGROUP
    output_location: str  # ATHENA_OUTPUT_LOCATION: s3://bucket/prefix/ ("" = workgroup's)
    result_reuse_minutes: int  # ATHENA_RESULT_REUSE_MINUTES (0 = no reuse)
    poll_initial_s: float  # ATHENA_POLL_INITIAL_SECONDS: first GetQueryExecution delay
    poll_max_s: float  # ATHENA_POLL_MAX_SECONDS: backoff cap between polls
    max_wait_s: float  # ATHENA_MAX_WAIT_SECONDS: give up (and stop the query) after this
    page_size: int  # ATHENA_PAGE_SIZE: GetQueryResults MaxResults (<= 1000)
    via_lambda: str  # ATHENA_VIA_LAMBDA: function name; "" = call Athena directly
    pooling: bool  # RESOURCE_POOLING_ENABLED: false = a client per call (benchmarks only)
    bedrock_pool: PoolBounds  # BEDROCK_POOL_SIZE/MIN/MAX (25)
    athena_pool: PoolBounds  # ATHENA_POOL_SIZE/MIN/MAX (10)
    lambda_pool: PoolBounds  # LAMBDA_POOL_SIZE/MIN/MAX (15)
    connect_timeout_s: float  # AWS_CONNECT_TIMEOUT_SECONDS
    read_timeout_s: float  # AWS_READ_TIMEOUT_SECONDS: Converse answers can take a minute
    sdk_max_attempts: int  # AWS_SDK_MAX_ATTEMPTS: botocore total attempts per call (adaptive mode)
    tcp_keepalive: bool  # AWS_TCP_KEEPALIVE
    throttle_base_s: float  # THROTTLE_BACKOFF_BASE_SECONDS: our deadline-aware backoff
    throttle_max_s: float  # THROTTLE_BACKOFF_MAX_SECONDS
    prices: Prices

    def __post_init__(self) -> None:
        for step, prompt_id, version in (
            ("QUERY", self.query_prompt_id, self.query_prompt_version),
            ("ANALYSIS", self.analysis_prompt_id, self.analysis_prompt_version),
        ):
            if version and not prompt_id:
                raise SettingsError(
                    f"BEDROCK_{step}_PROMPT_VERSION is set but BEDROCK_{step}_PROMPT_ID is not"
                )

    @property
    def uses_prompt_management(self) -> bool:
        return bool(self.query_prompt_id or self.analysis_prompt_id)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AwsSettings:
        return cls(
            query_model_id=env_str(
                environ, "BEDROCK_QUERY_MODEL_ID", "anthropic.claude-3-5-sonnet-20240620-v1:0"
            ),
            analysis_model_id=env_str(
                environ, "BEDROCK_ANALYSIS_MODEL_ID", "anthropic.claude-3-5-sonnet-20240620-v1:0"
            ),
            query_prompt=env_str(environ, "BEDROCK_QUERY_PROMPT", "query_v1"),
            analysis_prompt=env_str(environ, "BEDROCK_ANALYSIS_PROMPT", "analysis_v1"),
            query_prompt_id=env_str(environ, "BEDROCK_QUERY_PROMPT_ID", ""),
            query_prompt_version=_prompt_version(environ, "BEDROCK_QUERY_PROMPT_VERSION"),
            analysis_prompt_id=env_str(environ, "BEDROCK_ANALYSIS_PROMPT_ID", ""),
            analysis_prompt_version=_prompt_version(environ, "BEDROCK_ANALYSIS_PROMPT_VERSION"),
            prompt_refresh_s=env_float(
                environ, "BEDROCK_PROMPT_REFRESH_SECONDS", 300.0, minimum=1.0, maximum=86400.0
            ),
            prompt_fetch_timeout_s=env_float(
                environ, "BEDROCK_PROMPT_FETCH_TIMEOUT_SECONDS", 5.0, minimum=0.1, maximum=60.0
            ),
            max_output_tokens=env_int(environ, "BEDROCK_MAX_OUTPUT_TOKENS", 4096, minimum=1),
            context_tokens=env_int(environ, "BEDROCK_CONTEXT_TOKENS", 200_000, minimum=1000),
            chars_per_token=env_float(environ, "BEDROCK_CHARS_PER_TOKEN", 3.5, minimum=0.5),
            workgroup=env_str(environ, "ATHENA_WORKGROUP", "primary"),
            output_location=env_str(environ, "ATHENA_OUTPUT_LOCATION", ""),
            result_reuse_minutes=env_int(
                environ, "ATHENA_RESULT_REUSE_MINUTES", 60, minimum=0, maximum=10080
            ),
            poll_initial_s=env_float(environ, "ATHENA_POLL_INITIAL_SECONDS", 0.1, minimum=0.001),
            poll_max_s=env_float(environ, "ATHENA_POLL_MAX_SECONDS", 1.0, minimum=0.001),
            max_wait_s=env_float(environ, "ATHENA_MAX_WAIT_SECONDS", 60.0, minimum=0.01),
            page_size=env_int(environ, "ATHENA_PAGE_SIZE", 1000, minimum=1, maximum=1000),
            via_lambda=env_str(environ, "ATHENA_VIA_LAMBDA", ""),
            pooling=env_bool(environ, "RESOURCE_POOLING_ENABLED", True),
            bedrock_pool=PoolBounds.from_env(environ, "BEDROCK", 25),
            athena_pool=PoolBounds.from_env(environ, "ATHENA", 10),
            lambda_pool=PoolBounds.from_env(environ, "LAMBDA", 15),
            connect_timeout_s=env_float(environ, "AWS_CONNECT_TIMEOUT_SECONDS", 3.0, minimum=0.01),
            read_timeout_s=env_float(environ, "AWS_READ_TIMEOUT_SECONDS", 60.0, minimum=0.01),
            sdk_max_attempts=env_int(environ, "AWS_SDK_MAX_ATTEMPTS", 2, minimum=1, maximum=10),
            tcp_keepalive=env_bool(environ, "AWS_TCP_KEEPALIVE", True),
            throttle_base_s=env_float(environ, "THROTTLE_BACKOFF_BASE_SECONDS", 0.2, minimum=0.001),
            throttle_max_s=env_float(environ, "THROTTLE_BACKOFF_MAX_SECONDS", 5.0, minimum=0.001),
            prices=Prices.from_env(environ),
        )


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
    aws: AwsSettings

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
            aws=AwsSettings.from_env(environ),
        )


def cli_analysis_address(environ: Mapping[str, str]) -> str:
    """Where the ``oppsuite analysis-*`` commands find the service (ANALYSIS_ADDRESS)."""
    return env_str(environ, "ANALYSIS_ADDRESS", "127.0.0.1:50053")
