"""The aws provider: Bedrock Converse for both model steps, Athena (or a Lambda) for data.

Clients are created once, in ``create``, and shared by every analysis through
bounded pools (awspool). Region, credentials and endpoints are the SDK's own
configuration, so ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and friends point it anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import boto3
from botocore.config import Config

from services.analysis import local_provider
from services.analysis.athena import AthenaQuery, AthenaRunner
from services.analysis.awspool import CURRENT_ACCOUNTING, AwsClientPool, PoolObserver
from services.analysis.awsretry import RetryPolicy
from services.analysis.bedrock import ConverseAnswer, ConverseClient
from services.analysis.config import AwsSettings, PoolBounds, Prices
from services.analysis.errors import ModelOutputInvalid
from services.analysis.lambdaroute import LambdaRoute
from services.analysis.prompts import PromptTemplate, load_prompt
from services.analysis.promptstore import ManagedPromptRef, PromptObserver, PromptSlot, PromptStore
from services.analysis.provider import CallAccounting, Row
from services.analysis.truncation import ContextBudget, fit_rows
from services.common.cachekey import Fingerprint
from services.common.domain import Opportunity, Options
from services.common.settings import SettingsError

__all__ = ["AwsProvider", "ProviderObserver", "parse_sql_answer"]

_QUERY_MAX_TOKENS = 2048
_OPPORTUNITY_FIELDS = tuple(f.name for f in fields(Opportunity))
# Variables each step renders; a managed prompt may use these and no others.
_QUERY_VARIABLES = (*_OPPORTUNITY_FIELDS, "database", "table", "row_limit")
_ANALYSIS_VARIABLES = (*_OPPORTUNITY_FIELDS, "rows", "row_count", "truncation_note")
# GetPrompt is a few small calls an interval, never on the request path.
_PROMPT_POOL = PoolBounds(size=2, minimum=1, maximum=2)


def parse_sql_answer(text: str) -> str:
    """The SQL of an answer that is exactly ``{"sql_query": "<non-empty string>"}``."""
    step = "query_generation"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        preview = text.strip()[:80]
        raise ModelOutputInvalid(
            f'the query model did not answer with the JSON object {{"sql_query": ...}} '
            f"({exc.msg} at character {exc.pos}; answer starts {preview!r})",
            step=step,
        ) from None
    if not isinstance(document, dict) or set(document) != {"sql_query"}:
        keys = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ModelOutputInvalid(
            f'the query model must answer exactly {{"sql_query": ...}}, got {keys}', step=step
        )
    sql = document["sql_query"]
    if not isinstance(sql, str) or not sql.strip():
        raise ModelOutputInvalid("the query model's sql_query is empty or not text", step=step)
    return sql


def _opportunity_fields(opportunity: Opportunity) -> dict[str, str]:
    # Empty optional fields are said to be so, not left blank for the model to fill.
    return {
        name: (str(getattr(opportunity, name)).strip() or "(not given)")
        for name in _OPPORTUNITY_FIELDS
    }


def _prompt(variable: str, name: str) -> PromptTemplate:
    try:
        return load_prompt(name)
    except ValueError as exc:
        raise SettingsError(f"{variable}: {exc}") from None


class ProviderObserver(PoolObserver, PromptObserver, Protocol):
    """What the provider reports to (AnalysisMetrics implements both)."""


def _managed(prompt_id: str, version: str) -> ManagedPromptRef | None:
    return ManagedPromptRef(prompt_id, version) if prompt_id else None


@dataclass(frozen=True)
class _Pools:
    bedrock: AwsClientPool
    athena: AwsClientPool | None
    lambda_: AwsClientPool | None
    prompts: AwsClientPool | None = None  # bedrock-agent, only with Prompt Management

    def all(self) -> list[AwsClientPool]:
        candidates = (self.bedrock, self.athena, self.lambda_, self.prompts)
        return [p for p in candidates if p is not None]


class AwsProvider:
    def __init__(
        self,
        settings: AwsSettings,
        pools: _Pools,
        *,
        table: str,
        database: str,
        rng: random.Random,
        prompt_observer: PromptObserver,
    ) -> None:
        self._settings = settings
        self._pools = pools
        self._table = table
        self._database = database
        self._prices = settings.prices
        self.prompts = PromptStore(
            [
                PromptSlot(
                    "query",
                    _prompt("BEDROCK_QUERY_PROMPT", settings.query_prompt),
                    _managed(settings.query_prompt_id, settings.query_prompt_version),
                    supplied=_QUERY_VARIABLES,
                ),
                PromptSlot(
                    "analysis",
                    _prompt("BEDROCK_ANALYSIS_PROMPT", settings.analysis_prompt),
                    _managed(settings.analysis_prompt_id, settings.analysis_prompt_version),
                    supplied=_ANALYSIS_VARIABLES,
                    required=("rows",),  # without it the model never sees the data
                ),
            ],
            pools.prompts,
            observer=prompt_observer,
            refresh_s=settings.prompt_refresh_s,
            fetch_timeout_s=settings.prompt_fetch_timeout_s,
        )
        retry = RetryPolicy(base_s=settings.throttle_base_s, max_s=settings.throttle_max_s)
        self._converse = ConverseClient(pools.bedrock, retry, rng)
        self._athena = (
            AthenaRunner(
                pools.athena,
                AthenaQuery(
                    database=database,
                    workgroup=settings.workgroup,
                    output_location=settings.output_location,
                    result_reuse_minutes=settings.result_reuse_minutes,
                    poll_initial_s=settings.poll_initial_s,
                    poll_max_s=settings.poll_max_s,
                    max_wait_s=settings.max_wait_s,
                    page_size=settings.page_size,
                ),
                retry,
                rng,
            )
            if pools.athena is not None
            else None
        )
        self._lambda = (
            LambdaRoute(pools.lambda_, settings.via_lambda, retry, rng)
            if pools.lambda_ is not None
            else None
        )
        self._context = ContextBudget(
            settings.context_tokens, settings.max_output_tokens, settings.chars_per_token
        )
        route = f"lambda:{settings.via_lambda}" if settings.via_lambda else "athena"
        self._fingerprint = Fingerprint(
            provider="aws",
            query_model_id=settings.query_model_id,
            analysis_model_id=settings.analysis_model_id,
            query_prompt_version=self.prompts.template("query").version,
            analysis_prompt_version=self.prompts.template("analysis").version,
            schema_version=local_provider.SCHEMA_VERSION,
            dataset_version=f"{route}:{database}.{table}",
        )

    @classmethod
    def create(
        cls,
        settings: AwsSettings,
        *,
        table: str,
        database: str,
        observer: ProviderObserver,
        rng: random.Random | None = None,
        make_client: Callable[[str, Config], Any] | None = None,
    ) -> AwsProvider:
        """Build the pools and their clients. ``make_client`` replaces boto3's client
        constructor (tests wrap the real client to record or reshape its answers)."""
        build_client = make_client or _boto3_client
        # Fail on a bad prompt setting before any client or thread exists.
        _prompt("BEDROCK_QUERY_PROMPT", settings.query_prompt)
        _prompt("BEDROCK_ANALYSIS_PROMPT", settings.analysis_prompt)

        def pool(
            service: str, bounds: PoolBounds, read_timeout_s: float = settings.read_timeout_s
        ) -> AwsClientPool:
            config = Config(
                max_pool_connections=bounds.maximum,
                retries={"mode": "adaptive", "total_max_attempts": settings.sdk_max_attempts},
                connect_timeout=min(settings.connect_timeout_s, read_timeout_s),
                read_timeout=read_timeout_s,
                tcp_keepalive=settings.tcp_keepalive,
            )

            def factory() -> Any:
                return build_client(service, config)

            return AwsClientPool(
                service, factory, bounds, pooled=settings.pooling, observer=observer
            )

        via_lambda = bool(settings.via_lambda)
        pools = _Pools(
            bedrock=pool("bedrock-runtime", settings.bedrock_pool),
            athena=None if via_lambda else pool("athena", settings.athena_pool),
            lambda_=pool("lambda", settings.lambda_pool) if via_lambda else None,
            prompts=(
                # The socket timeout is the fetch bound too, so a stuck GetPrompt
                # frees its worker thread instead of only being abandoned.
                pool("bedrock-agent", _PROMPT_POOL, settings.prompt_fetch_timeout_s)
                if settings.uses_prompt_management
                else None
            ),
        )
        return cls(
            settings,
            pools,
            table=table,
            database=database,
            rng=rng or random.Random(),
            prompt_observer=observer,
        )

    async def start(self) -> None:
        """Fetch the managed prompts (if any) and keep them fresh; returns when the
        first fetch has succeeded or failed over to the repository templates."""
        await self.prompts.start()

    @property
    def fingerprint(self) -> Fingerprint:
        # Managed prompts can change version at a refresh; the key must follow.
        return dataclasses.replace(
            self._fingerprint,
            query_prompt_version=self.prompts.template("query").version,
            analysis_prompt_version=self.prompts.template("analysis").version,
        )

    @property
    def pools(self) -> list[AwsClientPool]:
        return self._pools.all()

    async def _ask(
        self,
        accounting: CallAccounting,
        *,
        model_id: str,
        prompt: PromptTemplate,
        user: str,
        max_tokens: int,
        step: str,
    ) -> ConverseAnswer:
        token = CURRENT_ACCOUNTING.set(accounting)
        try:
            answer = await self._converse.converse(
                model_id=model_id, system=prompt.system, user=user, max_tokens=max_tokens, step=step
            )
        finally:
            CURRENT_ACCOUNTING.reset(token)
        accounting.add(
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=_token_cost(self._prices, answer),
        )
        return answer

    async def generate_sql(
        self, opportunity: Opportunity, options: Options, accounting: CallAccounting
    ) -> str:
        prompt = self.prompts.template("query")
        user = prompt.render(
            **_opportunity_fields(opportunity),
            database=self._database,
            table=self._table,
            row_limit=str(options.sql_row_limit),
        )
        answer = await self._ask(
            accounting,
            model_id=self._settings.query_model_id,
            prompt=prompt,
            user=user,
            max_tokens=min(_QUERY_MAX_TOKENS, self._settings.max_output_tokens),
            step="query_generation",
        )
        return parse_sql_answer(answer.text)

    async def retrieve(self, sql: str, options: Options, accounting: CallAccounting) -> list[Row]:
        token = CURRENT_ACCOUNTING.set(accounting)
        try:
            if self._lambda is not None:
                result = await self._lambda.run(sql)
                gb_s = result.billed_ms / 1000 * self._prices.lambda_memory_mb / 1024
                accounting.add(
                    lambda_billed_ms=result.billed_ms,
                    cost_usd=gb_s * self._prices.lambda_per_gb_second
                    + self._prices.lambda_per_request,
                )
                return result.rows
            assert self._athena is not None  # one of the two routes always exists
            athena = await self._athena.run(sql)
        finally:
            CURRENT_ACCOUNTING.reset(token)
        billed = 0 if athena.reused else max(athena.bytes_scanned, self._prices.athena_min_bytes)
        accounting.add(
            athena_bytes_scanned=athena.bytes_scanned,
            cost_usd=billed / 1e12 * self._prices.athena_per_tb_scanned,
        )
        return athena.rows

    async def analyze(
        self,
        opportunity: Opportunity,
        rows: Sequence[Row],
        options: Options,
        accounting: CallAccounting,
    ) -> str:
        base = _opportunity_fields(opportunity)
        prompt = self.prompts.template("analysis")  # one template for the whole step
        skeleton = prompt.render(**base, rows="", row_count=str(len(rows)), truncation_note="")
        fitted = fit_rows(
            rows,
            truncate=options.truncate,
            budget_chars=options.truncation_chars,
            prompt_chars=len(prompt.system) + len(skeleton) + 64,
            context=self._context,
        )
        accounting.rows_analyzed = fitted.kept
        note = f", first {fitted.kept} of {fitted.total} kept" if fitted.truncated else ""
        user = prompt.render(
            **base, rows=fitted.text, row_count=str(fitted.kept), truncation_note=note
        )
        answer = await self._ask(
            accounting,
            model_id=self._settings.analysis_model_id,
            prompt=prompt,
            user=user,
            max_tokens=self._settings.max_output_tokens,
            step="analysis",
        )
        return answer.text

    async def ready(self) -> bool:
        return not any(p.closed for p in self._pools.all())

    async def aclose(self) -> None:
        await self.prompts.aclose()
        for pool in self._pools.all():
            await pool.aclose()


def _boto3_client(service: str, config: Config) -> Any:
    # A session per client: boto3's default session is not thread-safe, and unpooled
    # mode creates clients from many threads at once.
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def _token_cost(prices: Prices, answer: ConverseAnswer) -> float:
    return (
        answer.input_tokens / 1000 * prices.bedrock_input_per_1k_tokens
        + answer.output_tokens / 1000 * prices.bedrock_output_per_1k_tokens
    )
