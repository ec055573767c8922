"""Plain domain types shared by the services, free of protobuf and gRPC.

The servicers convert between these and the generated messages
(services.common.convert); everything else works on these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "DEFAULT_ROW_LIMIT",
    "DEFAULT_TRUNCATION_CHARS",
    "Analysis",
    "Architecture",
    "Confidence",
    "Opportunity",
    "Options",
    "ServiceCost",
    "SimilarProject",
    "StepTiming",
]

DEFAULT_ROW_LIMIT = 200
MIN_ROW_LIMIT = 50
MAX_ROW_LIMIT = 500
DEFAULT_TRUNCATION_CHARS = 400_000


@dataclass(frozen=True)
class Opportunity:
    customer_name: str
    region: str
    close_date: str  # YYYY-MM-DD
    opportunity_name: str
    description: str
    industry: str = ""
    customer_segment: str = ""
    partner_name: str = ""
    activity_focus: str = ""
    business_description: str = ""
    migration_phase: str = ""


@dataclass(frozen=True)
class Options:
    sql_row_limit: int = DEFAULT_ROW_LIMIT
    truncate: bool = True
    truncation_chars: int = DEFAULT_TRUNCATION_CHARS
    bypass_cache: bool = False


class Confidence(Enum):
    UNSPECIFIED = "UNSPECIFIED"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


@dataclass(frozen=True)
class ServiceCost:
    name: str
    monthly_usd: int
    upfront_usd: int


@dataclass(frozen=True)
class SimilarProject:
    project_name: str = ""
    customer: str = ""
    industry: str = ""
    region: str = ""
    close_date: str = ""
    total_mrr_usd: int = 0
    total_arr_usd: int = 0
    services: tuple[ServiceCost, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Architecture:
    network_foundation: str = ""
    compute_layer: str = ""
    data_layer: str = ""
    security_components: str = ""
    integration_points: str = ""
    scaling_elements: str = ""
    management_tools: str = ""
    complete_architecture: str = ""


@dataclass(frozen=True)
class Analysis:
    """A parsed prediction. Zero / empty means "not given"; the parser never invents
    a value and records each missing field in ``validation_errors`` instead."""

    predicted_arr_usd: int = 0
    predicted_mrr_usd: int = 0
    launch_date: str = ""  # YYYY-MM
    project_duration_months: int = 0
    confidence: Confidence = Confidence.UNSPECIFIED
    confidence_score: int = 0
    top_services: tuple[ServiceCost, ...] = ()
    similar_projects: tuple[SimilarProject, ...] = ()
    methodology: str = ""
    findings: str = ""
    rationale: str = ""
    risk_factors: str = ""
    architecture: Architecture = field(default_factory=Architecture)
    validation_errors: tuple[str, ...] = ()
    full_text: str = ""


@dataclass(frozen=True)
class StepTiming:
    step: str
    duration_ms: float
    threshold_ms: float

    @property
    def violated(self) -> bool:
        return self.duration_ms > self.threshold_ms
