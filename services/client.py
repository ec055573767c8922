"""Client-side helpers for the oppsuite command: the API key, calls, readable output."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.gen import gateway_pb2, types_pb2

__all__ = [
    "SAMPLE_OPPORTUNITY",
    "api_key",
    "describe_error",
    "format_analysis",
    "format_performance",
    "metadata",
]

SAMPLE_OPPORTUNITY: dict[str, str] = {
    "customer_name": "Northwind Health",
    "region": "United States",
    "close_date": "2026-06-30",
    "opportunity_name": "Northwind EHR modernization",
    "description": (
        "Migrate the on-premises electronic health record platform running on Oracle and "
        "VMware to AWS, modernize the patient portal onto containers, and build a data lake "
        "for clinical analytics with machine learning for readmission risk."
    ),
    "industry": "Healthcare",
    "customer_segment": "Enterprise",
    "activity_focus": "Migration",
    "migration_phase": "Mobilize",
}


def api_key(key_file: Path) -> str:
    """OPPSUITE_API_KEY, else the key `make up` stored in .oppsuite/api-key."""
    key = os.environ.get("OPPSUITE_API_KEY", "").strip()
    if key:
        return key
    if key_file.exists():
        return key_file.read_text().strip()
    raise SystemExit(f"no API key: set OPPSUITE_API_KEY or run 'make up' once to create {key_file}")


def metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def describe_error(error: grpc.aio.AioRpcError | grpc.RpcError) -> str:
    """Status, message and the details a person needs (field violations, retry delay)."""
    code = error.code()  # type: ignore[union-attr]
    lines = [f"{code.name}: {error.details()}"]  # type: ignore[union-attr]
    lines += [f"  {field}: {why}" for field, why in field_violations(error).items()]
    delay = retry_delay_s(error)
    if delay is not None:
        lines.append(f"  retry after {delay:.3f} s")
    return "\n".join(lines)


def field_violations(error: grpc.aio.AioRpcError | grpc.RpcError) -> dict[str, str]:
    """field → what is wrong with it, from an INVALID_ARGUMENT's BadRequest details."""
    found: dict[str, str] = {}
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def retry_delay_s(error: grpc.aio.AioRpcError | grpc.RpcError) -> float | None:
    """The RetryInfo delay a RESOURCE_EXHAUSTED (or other) status carries, if any."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None


def _money(value: int) -> str:
    return f"${value:,}"


def format_analysis(response: gateway_pb2.AnalyzeResponse) -> str:
    a, meta = response.analysis, response.meta
    source = types_pb2.CacheSource.Name(meta.cache_source).removeprefix("CACHE_SOURCE_")
    rows = [
        ("request id", meta.request_id),
        ("cache", source.lower()),
        ("total", f"{meta.total_ms:,.1f} ms"),
        ("predicted ARR", _money(a.predicted_arr_usd)),
        ("predicted MRR", _money(a.predicted_mrr_usd)),
        ("launch", a.launch_date or "-"),
        ("duration", f"{a.project_duration_months} months"),
        (
            "confidence",
            f"{types_pb2.Confidence.Name(a.confidence).removeprefix('CONFIDENCE_')} "
            f"({a.confidence_score})",
        ),
    ]
    rows += [
        (
            f"service {i}",
            f"{s.name}: {_money(s.monthly_usd)}/month, {_money(s.upfront_usd)} upfront",
        )
        for i, s in enumerate(a.top_services, 1)
    ]
    rows += [
        (
            f"similar {i}",
            f"{p.project_name} ({p.customer}, {p.close_date}, ARR {_money(p.total_arr_usd)})",
        )
        for i, p in enumerate(a.similar_projects, 1)
    ]
    rows += [
        (
            f"step {t.step}",
            f"{t.duration_ms:,.1f} ms / {t.threshold_ms:,.0f} ms"
            + ("  OVER THRESHOLD" if t.violated else ""),
        )
        for t in meta.steps
    ]
    rows.append(("rows used", str(meta.row_count)))
    rows += [("validation", e) for e in a.validation_errors]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def _latency(summary: types_pb2.LatencySummary) -> str:
    return (
        f"n={summary.count:<6} p50 {summary.p50_ms:9.1f}  p90 {summary.p90_ms:9.1f}  "
        f"p95 {summary.p95_ms:9.1f}  p99 {summary.p99_ms:9.1f} ms"
    )


def format_performance(report: types_pb2.PerformanceReport) -> str:
    lines = [
        f"window            {report.window_seconds:.0f} s, {report.reporting_instances} "
        "reporting instances",
        f"requests          {report.request_count}  errors {report.error_count} "
        f"({report.error_rate:.1%})",
        f"cache hit rate    {report.cache_hit_rate:.1%}",
        f"total latency     {_latency(report.total_latency)}",
    ]
    lines += [f"step {name:<13} {_latency(s)}" for name, s in sorted(report.step_latency.items())]
    lines += [
        f"tier {t:<13} hit rate {r:.1%}" for t, r in sorted(report.cache_hit_rate_by_tier.items())
    ]
    lines.append(f"in flight         {report.in_flight:.0f}   queued {report.queued:.0f}")
    lines += [f"rejected {r:<9} {n}" for r, n in sorted(report.rejections_by_reason.items())]
    lines += [
        f"memory {s:<11} {b / 1e6:,.1f} MB" for s, b in sorted(report.memory_rss_bytes.items())
    ]
    lines += [f"recommendation    {r}" for r in report.recommendations]
    return "\n".join(lines)


def to_json(message: Any) -> str:
    return json.dumps(
        json_format.MessageToDict(message, preserving_proto_field_name=True), indent=2
    )


def opportunity_from(mapping: Mapping[str, Any]) -> types_pb2.Opportunity:
    fields = {f.name for f in types_pb2.Opportunity.DESCRIPTOR.fields}
    unknown = set(mapping) - fields
    if unknown:
        raise SystemExit(f"unknown opportunity fields: {', '.join(sorted(unknown))}")
    return types_pb2.Opportunity(**{k: str(v) for k, v in mapping.items()})
