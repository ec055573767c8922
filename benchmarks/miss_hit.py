"""Miss and hit latency through the gateway of a running suite (`make up` first).

    .venv/bin/python -m benchmarks.miss_hit [--count 50] [--target 127.0.0.1:50051]

Each iteration sends a never-seen opportunity (a miss: the whole workflow runs) and then
the same one again (a hit from Redis). Prints P50/P90/P99 of the client-side round trip.
A request the rate limiter turns away (RESOURCE_EXHAUSTED, e.g. right after
``oppsuite validate`` emptied the bucket) is sent again after its RetryInfo delay; the
wait is not part of any figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

import grpc

from services.client import (
    SAMPLE_OPPORTUNITY,
    api_key,
    describe_error,
    metadata,
    opportunity_from,
    retry_delay_s,
)
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<5} n={len(values):<4} p50 {percentile(values, 0.5):8.2f} ms  "
        f"p90 {percentile(values, 0.9):8.2f} ms  p99 {percentile(values, 0.99):8.2f} ms  "
        f"mean {statistics.fmean(values):8.2f} ms"
    )


def analyze(
    stub: gateway_pb2_grpc.GatewayStub,
    request: gateway_pb2.AnalyzeRequest,
    auth: tuple[tuple[str, str], ...],
) -> tuple[gateway_pb2.AnalyzeResponse, float]:
    """The reply and its round trip in ms, after waiting out any rate-limit rejections."""
    for _ in range(20):
        started = time.perf_counter()
        try:
            reply = stub.Analyze(request, metadata=auth, timeout=60)
        except grpc.RpcError as error:
            delay = retry_delay_s(error)
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or delay is None:
                raise SystemExit(f"Analyze failed: {describe_error(error)}") from None
            time.sleep(delay + 0.01)
            continue
        return reply, (time.perf_counter() - started) * 1000
    raise SystemExit("Analyze was rate-limited 20 times in a row; is another client busy?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--key-file", default=".oppsuite/api-key")
    args = parser.parse_args()
    auth = metadata(api_key(Path(args.key_file)))
    misses: list[float] = []
    hits: list[float] = []
    with grpc.insecure_channel(args.target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        for _ in range(args.count):
            fields = {**SAMPLE_OPPORTUNITY, "opportunity_name": f"Bench {uuid.uuid4().hex[:12]}"}
            request = gateway_pb2.AnalyzeRequest(opportunity=opportunity_from(fields))
            for bucket, expected in ((misses, types_pb2.CACHE_SOURCE_MISS), (hits, None)):
                reply, elapsed_ms = analyze(stub, request, auth)
                bucket.append(elapsed_ms)
                if expected is not None and reply.meta.cache_source != expected:
                    raise SystemExit("expected a miss; is the opportunity name reused?")
    print(summary("miss", misses))
    print(summary("hit", hits))
    print(f"hit/miss speed-up at p50: {percentile(misses, 0.5) / percentile(hits, 0.5):.0f}x")


if __name__ == "__main__":
    main()
