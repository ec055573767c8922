"""Warming's way to re-run an analysis: the analysis service over gRPC."""

from __future__ import annotations

import grpc

from services.cache.errors import WarmFailed
from services.common.gen import analysis_pb2, analysis_pb2_grpc, cache_pb2, types_pb2

__all__ = ["GrpcAnalyzer"]

# Who the analysis service sees as the caller of warming runs (cost attribution).
WARMING_CLIENT_ID = "cache-warming"


class GrpcAnalyzer:
    def __init__(self, address: str) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = analysis_pb2_grpc.AnalysisServiceStub(self._channel)

    async def analyze(
        self,
        opportunity: types_pb2.Opportunity,
        options: types_pb2.AnalysisOptions,
        timeout_s: float,
    ) -> cache_pb2.CacheEntry:
        request = analysis_pb2.RunAnalysisRequest(
            opportunity=opportunity, options=options, client_id=WARMING_CLIENT_ID
        )
        try:
            reply: analysis_pb2.RunAnalysisResponse = await self._stub.Analyze(
                request, timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise WarmFailed(f"analysis failed: {error.code().name} {error.details()}") from error
        return cache_pb2.CacheEntry(
            analysis=reply.analysis,
            sql=reply.sql,
            row_count=reply.row_count,
            compute_ms=reply.compute_ms,
            cost_usd=reply.cost_usd,
        )

    async def aclose(self) -> None:
        await self._channel.close()
