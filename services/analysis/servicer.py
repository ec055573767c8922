"""gRPC transport for the analysis service: protobuf ↔ domain, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import grpc

from services.analysis.provider import CallAccounting
from services.analysis.workflow import StepListener, Workflow, WorkflowResult
from services.common.cachekey import Fingerprint
from services.common.convert import analysis_to_proto, step_timing_to_proto
from services.common.domain import StepTiming
from services.common.gen import analysis_pb2, analysis_pb2_grpc, types_pb2
from services.common.validation import validate_request

__all__ = ["AnalysisServicer", "result_to_proto"]


def result_to_proto(result: WorkflowResult) -> analysis_pb2.RunAnalysisResponse:
    accounting = result.accounting
    return analysis_pb2.RunAnalysisResponse(
        analysis=analysis_to_proto(result.analysis),
        steps=[step_timing_to_proto(t) for t in result.steps],
        sql=result.sql,
        row_count=result.row_count,
        aws_call_count=result.accounting.total_calls,
        cost_usd=result.accounting.cost_usd,
        aws_calls_by_operation=result.accounting.calls_by_operation,
        compute_ms=result.compute_ms,
        bedrock_input_tokens=accounting.input_tokens,
        bedrock_output_tokens=accounting.output_tokens,
        athena_bytes_scanned=accounting.athena_bytes_scanned,
        lambda_billed_ms=accounting.lambda_billed_ms,
        aws_ms=accounting.aws_ms,
        rows_analyzed=accounting.rows_analyzed,
    )


class _QueueListener(StepListener):
    def __init__(self) -> None:
        self.events: asyncio.Queue[analysis_pb2.RunAnalysisEvent] = asyncio.Queue(maxsize=32)

    async def started(self, step: str) -> None:
        await self.events.put(
            analysis_pb2.RunAnalysisEvent(
                step=types_pb2.StepEvent(step=step, phase=types_pb2.STEP_PHASE_STARTED)
            )
        )

    async def finished(self, timing: StepTiming) -> None:
        await self.events.put(
            analysis_pb2.RunAnalysisEvent(
                step=types_pb2.StepEvent(
                    step=timing.step,
                    phase=types_pb2.STEP_PHASE_FINISHED,
                    timing=step_timing_to_proto(timing),
                )
            )
        )


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        workflow: Workflow,
        fingerprint: Callable[[], Fingerprint],
        *,
        default_deadline_s: float,
        limiter: asyncio.Semaphore,
        on_accounting: Callable[[str, CallAccounting], None] = lambda client, accounting: None,
    ) -> None:
        self._workflow = workflow
        self._fingerprint = fingerprint
        self._default_deadline_s = default_deadline_s
        self._limiter = limiter
        self._on_accounting = on_accounting

    def _deadline(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        return self._default_deadline_s if remaining is None else float(remaining)

    async def Analyze(
        self, request: analysis_pb2.RunAnalysisRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.RunAnalysisResponse:
        opportunity, options = validate_request(request.opportunity, request.options)
        accounting = CallAccounting()
        try:
            async with self._limiter:
                result = await self._workflow.run(
                    opportunity, options, deadline_s=self._deadline(context), accounting=accounting
                )
        finally:
            self._on_accounting(request.client_id, accounting)
        return result_to_proto(result)

    async def AnalyzeStream(
        self, request: analysis_pb2.RunAnalysisRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[analysis_pb2.RunAnalysisEvent]:
        opportunity, options = validate_request(request.opportunity, request.options)
        listener = _QueueListener()
        accounting = CallAccounting()

        async def run() -> WorkflowResult:
            try:
                async with self._limiter:
                    return await self._workflow.run(
                        opportunity,
                        options,
                        deadline_s=self._deadline(context),
                        listener=listener,
                        accounting=accounting,
                    )
            finally:
                self._on_accounting(request.client_id, accounting)

        task = asyncio.create_task(run())
        try:
            while not (task.done() and listener.events.empty()):
                getter = asyncio.create_task(listener.events.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
            yield analysis_pb2.RunAnalysisEvent(result=result_to_proto(task.result()))
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def Describe(
        self, request: analysis_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.DescribeResponse:
        fp = self._fingerprint()  # may change when a managed prompt gets a new version
        return analysis_pb2.DescribeResponse(
            provider=fp.provider,
            query_model_id=fp.query_model_id,
            analysis_model_id=fp.analysis_model_id,
            query_prompt_version=fp.query_prompt_version,
            analysis_prompt_version=fp.analysis_prompt_version,
            schema_version=fp.schema_version,
            dataset_version=fp.dataset_version,
        )
