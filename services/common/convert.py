"""Protobuf ↔ domain conversion for the shared types. Servicers call these; nothing
else in the domain sees a generated message."""

from __future__ import annotations

from services.common import domain
from services.common.gen import types_pb2

__all__ = [
    "analysis_from_proto",
    "analysis_to_proto",
    "opportunity_from_proto",
    "opportunity_to_proto",
    "options_to_proto",
    "step_timing_to_proto",
]

_CONFIDENCE_TO_PROTO = {
    domain.Confidence.UNSPECIFIED: types_pb2.CONFIDENCE_UNSPECIFIED,
    domain.Confidence.HIGH: types_pb2.CONFIDENCE_HIGH,
    domain.Confidence.MEDIUM: types_pb2.CONFIDENCE_MEDIUM,
    domain.Confidence.LOW: types_pb2.CONFIDENCE_LOW,
}
_CONFIDENCE_FROM_PROTO = {v: k for k, v in _CONFIDENCE_TO_PROTO.items()}
_OPPORTUNITY_FIELDS = (
    "customer_name",
    "region",
    "close_date",
    "opportunity_name",
    "description",
    "industry",
    "customer_segment",
    "partner_name",
    "activity_focus",
    "business_description",
    "migration_phase",
)
_ARCHITECTURE_FIELDS = (
    "network_foundation",
    "compute_layer",
    "data_layer",
    "security_components",
    "integration_points",
    "scaling_elements",
    "management_tools",
    "complete_architecture",
)


def opportunity_from_proto(message: types_pb2.Opportunity) -> domain.Opportunity:
    """Raw field values; services.common.validation decides whether they are acceptable."""
    return domain.Opportunity(**{name: getattr(message, name) for name in _OPPORTUNITY_FIELDS})


def opportunity_to_proto(opportunity: domain.Opportunity) -> types_pb2.Opportunity:
    return types_pb2.Opportunity(
        **{name: getattr(opportunity, name) for name in _OPPORTUNITY_FIELDS}
    )


def options_to_proto(options: domain.Options) -> types_pb2.AnalysisOptions:
    return types_pb2.AnalysisOptions(
        sql_row_limit=options.sql_row_limit,
        disable_truncation=not options.truncate,
        truncation_chars=options.truncation_chars,
        bypass_cache=options.bypass_cache,
    )


def _service_to_proto(cost: domain.ServiceCost) -> types_pb2.ServiceCost:
    return types_pb2.ServiceCost(
        name=cost.name, monthly_usd=cost.monthly_usd, upfront_usd=cost.upfront_usd
    )


def _service_from_proto(cost: types_pb2.ServiceCost) -> domain.ServiceCost:
    return domain.ServiceCost(cost.name, cost.monthly_usd, cost.upfront_usd)


def _similar_to_proto(project: domain.SimilarProject) -> types_pb2.SimilarProject:
    return types_pb2.SimilarProject(
        project_name=project.project_name,
        customer=project.customer,
        industry=project.industry,
        region=project.region,
        close_date=project.close_date,
        total_mrr_usd=project.total_mrr_usd,
        total_arr_usd=project.total_arr_usd,
        services=[_service_to_proto(s) for s in project.services],
        description=project.description,
    )


def _similar_from_proto(project: types_pb2.SimilarProject) -> domain.SimilarProject:
    return domain.SimilarProject(
        project_name=project.project_name,
        customer=project.customer,
        industry=project.industry,
        region=project.region,
        close_date=project.close_date,
        total_mrr_usd=project.total_mrr_usd,
        total_arr_usd=project.total_arr_usd,
        services=tuple(_service_from_proto(s) for s in project.services),
        description=project.description,
    )


def analysis_to_proto(analysis: domain.Analysis) -> types_pb2.Analysis:
    architecture = types_pb2.Architecture(
        **{name: getattr(analysis.architecture, name) for name in _ARCHITECTURE_FIELDS}
    )
    return types_pb2.Analysis(
        predicted_arr_usd=analysis.predicted_arr_usd,
        predicted_mrr_usd=analysis.predicted_mrr_usd,
        launch_date=analysis.launch_date,
        project_duration_months=analysis.project_duration_months,
        confidence=_CONFIDENCE_TO_PROTO[analysis.confidence],
        confidence_score=analysis.confidence_score,
        top_services=[_service_to_proto(s) for s in analysis.top_services],
        similar_projects=[_similar_to_proto(p) for p in analysis.similar_projects],
        methodology=analysis.methodology,
        findings=analysis.findings,
        rationale=analysis.rationale,
        risk_factors=analysis.risk_factors,
        architecture=architecture,
        validation_errors=list(analysis.validation_errors),
        full_text=analysis.full_text,
    )


def analysis_from_proto(message: types_pb2.Analysis) -> domain.Analysis:
    return domain.Analysis(
        predicted_arr_usd=message.predicted_arr_usd,
        predicted_mrr_usd=message.predicted_mrr_usd,
        launch_date=message.launch_date,
        project_duration_months=message.project_duration_months,
        confidence=_CONFIDENCE_FROM_PROTO.get(message.confidence, domain.Confidence.UNSPECIFIED),
        confidence_score=message.confidence_score,
        top_services=tuple(_service_from_proto(s) for s in message.top_services),
        similar_projects=tuple(_similar_from_proto(p) for p in message.similar_projects),
        methodology=message.methodology,
        findings=message.findings,
        rationale=message.rationale,
        risk_factors=message.risk_factors,
        architecture=domain.Architecture(
            **{name: getattr(message.architecture, name) for name in _ARCHITECTURE_FIELDS}
        ),
        validation_errors=tuple(message.validation_errors),
        full_text=message.full_text,
    )


def step_timing_to_proto(timing: domain.StepTiming) -> types_pb2.StepTiming:
    return types_pb2.StepTiming(
        step=timing.step,
        duration_ms=timing.duration_ms,
        threshold_ms=timing.threshold_ms,
        violated=timing.violated,
    )
