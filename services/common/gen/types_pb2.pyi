from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Confidence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIDENCE_UNSPECIFIED: _ClassVar[Confidence]
    CONFIDENCE_HIGH: _ClassVar[Confidence]
    CONFIDENCE_MEDIUM: _ClassVar[Confidence]
    CONFIDENCE_LOW: _ClassVar[Confidence]

class CacheSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_SOURCE_UNSPECIFIED: _ClassVar[CacheSource]
    CACHE_SOURCE_MISS: _ClassVar[CacheSource]
    CACHE_SOURCE_NEAR: _ClassVar[CacheSource]
    CACHE_SOURCE_REDIS: _ClassVar[CacheSource]
    CACHE_SOURCE_DYNAMODB: _ClassVar[CacheSource]
    CACHE_SOURCE_COALESCED: _ClassVar[CacheSource]

class StepPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_PHASE_UNSPECIFIED: _ClassVar[StepPhase]
    STEP_PHASE_STARTED: _ClassVar[StepPhase]
    STEP_PHASE_FINISHED: _ClassVar[StepPhase]
CONFIDENCE_UNSPECIFIED: Confidence
CONFIDENCE_HIGH: Confidence
CONFIDENCE_MEDIUM: Confidence
CONFIDENCE_LOW: Confidence
CACHE_SOURCE_UNSPECIFIED: CacheSource
CACHE_SOURCE_MISS: CacheSource
CACHE_SOURCE_NEAR: CacheSource
CACHE_SOURCE_REDIS: CacheSource
CACHE_SOURCE_DYNAMODB: CacheSource
CACHE_SOURCE_COALESCED: CacheSource
STEP_PHASE_UNSPECIFIED: StepPhase
STEP_PHASE_STARTED: StepPhase
STEP_PHASE_FINISHED: StepPhase

class Opportunity(_message.Message):
    __slots__ = ("customer_name", "region", "close_date", "opportunity_name", "description", "industry", "customer_segment", "partner_name", "activity_focus", "business_description", "migration_phase")
    CUSTOMER_NAME_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_DATE_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INDUSTRY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_FOCUS_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_PHASE_FIELD_NUMBER: _ClassVar[int]
    customer_name: str
    region: str
    close_date: str
    opportunity_name: str
    description: str
    industry: str
    customer_segment: str
    partner_name: str
    activity_focus: str
    business_description: str
    migration_phase: str
    def __init__(self, customer_name: _Optional[str] = ..., region: _Optional[str] = ..., close_date: _Optional[str] = ..., opportunity_name: _Optional[str] = ..., description: _Optional[str] = ..., industry: _Optional[str] = ..., customer_segment: _Optional[str] = ..., partner_name: _Optional[str] = ..., activity_focus: _Optional[str] = ..., business_description: _Optional[str] = ..., migration_phase: _Optional[str] = ...) -> None: ...

class AnalysisOptions(_message.Message):
    __slots__ = ("sql_row_limit", "disable_truncation", "truncation_chars", "bypass_cache")
    SQL_ROW_LIMIT_FIELD_NUMBER: _ClassVar[int]
    DISABLE_TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_CHARS_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    sql_row_limit: int
    disable_truncation: bool
    truncation_chars: int
    bypass_cache: bool
    def __init__(self, sql_row_limit: _Optional[int] = ..., disable_truncation: _Optional[bool] = ..., truncation_chars: _Optional[int] = ..., bypass_cache: _Optional[bool] = ...) -> None: ...

class ServiceCost(_message.Message):
    __slots__ = ("name", "monthly_usd", "upfront_usd")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_USD_FIELD_NUMBER: _ClassVar[int]
    UPFRONT_USD_FIELD_NUMBER: _ClassVar[int]
    name: str
    monthly_usd: int
    upfront_usd: int
    def __init__(self, name: _Optional[str] = ..., monthly_usd: _Optional[int] = ..., upfront_usd: _Optional[int] = ...) -> None: ...

class SimilarProject(_message.Message):
    __slots__ = ("project_name", "customer", "industry", "region", "close_date", "total_mrr_usd", "total_arr_usd", "services", "description")
    PROJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    INDUSTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_DATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MRR_USD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ARR_USD_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    project_name: str
    customer: str
    industry: str
    region: str
    close_date: str
    total_mrr_usd: int
    total_arr_usd: int
    services: _containers.RepeatedCompositeFieldContainer[ServiceCost]
    description: str
    def __init__(self, project_name: _Optional[str] = ..., customer: _Optional[str] = ..., industry: _Optional[str] = ..., region: _Optional[str] = ..., close_date: _Optional[str] = ..., total_mrr_usd: _Optional[int] = ..., total_arr_usd: _Optional[int] = ..., services: _Optional[_Iterable[_Union[ServiceCost, _Mapping]]] = ..., description: _Optional[str] = ...) -> None: ...

class Architecture(_message.Message):
    __slots__ = ("network_foundation", "compute_layer", "data_layer", "security_components", "integration_points", "scaling_elements", "management_tools", "complete_architecture")
    NETWORK_FOUNDATION_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_LAYER_FIELD_NUMBER: _ClassVar[int]
    DATA_LAYER_FIELD_NUMBER: _ClassVar[int]
    SECURITY_COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_POINTS_FIELD_NUMBER: _ClassVar[int]
    SCALING_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_TOOLS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    network_foundation: str
    compute_layer: str
    data_layer: str
    security_components: str
    integration_points: str
    scaling_elements: str
    management_tools: str
    complete_architecture: str
    def __init__(self, network_foundation: _Optional[str] = ..., compute_layer: _Optional[str] = ..., data_layer: _Optional[str] = ..., security_components: _Optional[str] = ..., integration_points: _Optional[str] = ..., scaling_elements: _Optional[str] = ..., management_tools: _Optional[str] = ..., complete_architecture: _Optional[str] = ...) -> None: ...

class Analysis(_message.Message):
    __slots__ = ("predicted_arr_usd", "predicted_mrr_usd", "launch_date", "project_duration_months", "confidence", "confidence_score", "top_services", "similar_projects", "methodology", "findings", "rationale", "risk_factors", "architecture", "validation_errors", "full_text")
    PREDICTED_ARR_USD_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_MRR_USD_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_DATE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_DURATION_MONTHS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    TOP_SERVICES_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    METHODOLOGY_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    RISK_FACTORS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ERRORS_FIELD_NUMBER: _ClassVar[int]
    FULL_TEXT_FIELD_NUMBER: _ClassVar[int]
    predicted_arr_usd: int
    predicted_mrr_usd: int
    launch_date: str
    project_duration_months: int
    confidence: Confidence
    confidence_score: int
    top_services: _containers.RepeatedCompositeFieldContainer[ServiceCost]
    similar_projects: _containers.RepeatedCompositeFieldContainer[SimilarProject]
    methodology: str
    findings: str
    rationale: str
    risk_factors: str
    architecture: Architecture
    validation_errors: _containers.RepeatedScalarFieldContainer[str]
    full_text: str
    def __init__(self, predicted_arr_usd: _Optional[int] = ..., predicted_mrr_usd: _Optional[int] = ..., launch_date: _Optional[str] = ..., project_duration_months: _Optional[int] = ..., confidence: _Optional[_Union[Confidence, str]] = ..., confidence_score: _Optional[int] = ..., top_services: _Optional[_Iterable[_Union[ServiceCost, _Mapping]]] = ..., similar_projects: _Optional[_Iterable[_Union[SimilarProject, _Mapping]]] = ..., methodology: _Optional[str] = ..., findings: _Optional[str] = ..., rationale: _Optional[str] = ..., risk_factors: _Optional[str] = ..., architecture: _Optional[_Union[Architecture, _Mapping]] = ..., validation_errors: _Optional[_Iterable[str]] = ..., full_text: _Optional[str] = ...) -> None: ...

class StepTiming(_message.Message):
    __slots__ = ("step", "duration_ms", "threshold_ms", "violated")
    STEP_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_MS_FIELD_NUMBER: _ClassVar[int]
    VIOLATED_FIELD_NUMBER: _ClassVar[int]
    step: str
    duration_ms: float
    threshold_ms: float
    violated: bool
    def __init__(self, step: _Optional[str] = ..., duration_ms: _Optional[float] = ..., threshold_ms: _Optional[float] = ..., violated: _Optional[bool] = ...) -> None: ...

class StepEvent(_message.Message):
    __slots__ = ("step", "phase", "timing")
    STEP_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    step: str
    phase: StepPhase
    timing: StepTiming
    def __init__(self, step: _Optional[str] = ..., phase: _Optional[_Union[StepPhase, str]] = ..., timing: _Optional[_Union[StepTiming, _Mapping]] = ...) -> None: ...

class LatencySummary(_message.Message):
    __slots__ = ("count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P90_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    def __init__(self, count: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p90_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., max_ms: _Optional[float] = ...) -> None: ...

class PerformanceReport(_message.Message):
    __slots__ = ("window_seconds", "request_count", "error_count", "error_rate", "cache_hit_rate", "total_latency", "step_latency", "cache_hit_rate_by_tier", "pool_utilization", "in_flight", "queued", "rejections_by_reason", "memory_rss_bytes", "recommendations", "generated_at_unix", "reporting_instances", "step_threshold_violations")
    class StepLatencyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: LatencySummary
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[LatencySummary, _Mapping]] = ...) -> None: ...
    class CacheHitRateByTierEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class PoolUtilizationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class RejectionsByReasonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class MemoryRssBytesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class StepThresholdViolationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LATENCY_FIELD_NUMBER: _ClassVar[int]
    STEP_LATENCY_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_BY_TIER_FIELD_NUMBER: _ClassVar[int]
    POOL_UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_BY_REASON_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    REPORTING_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    STEP_THRESHOLD_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    request_count: int
    error_count: int
    error_rate: float
    cache_hit_rate: float
    total_latency: LatencySummary
    step_latency: _containers.MessageMap[str, LatencySummary]
    cache_hit_rate_by_tier: _containers.ScalarMap[str, float]
    pool_utilization: _containers.ScalarMap[str, float]
    in_flight: float
    queued: float
    rejections_by_reason: _containers.ScalarMap[str, int]
    memory_rss_bytes: _containers.ScalarMap[str, float]
    recommendations: _containers.RepeatedScalarFieldContainer[str]
    generated_at_unix: float
    reporting_instances: int
    step_threshold_violations: _containers.ScalarMap[str, int]
    def __init__(self, window_seconds: _Optional[float] = ..., request_count: _Optional[int] = ..., error_count: _Optional[int] = ..., error_rate: _Optional[float] = ..., cache_hit_rate: _Optional[float] = ..., total_latency: _Optional[_Union[LatencySummary, _Mapping]] = ..., step_latency: _Optional[_Mapping[str, LatencySummary]] = ..., cache_hit_rate_by_tier: _Optional[_Mapping[str, float]] = ..., pool_utilization: _Optional[_Mapping[str, float]] = ..., in_flight: _Optional[float] = ..., queued: _Optional[float] = ..., rejections_by_reason: _Optional[_Mapping[str, int]] = ..., memory_rss_bytes: _Optional[_Mapping[str, float]] = ..., recommendations: _Optional[_Iterable[str]] = ..., generated_at_unix: _Optional[float] = ..., reporting_instances: _Optional[int] = ..., step_threshold_violations: _Optional[_Mapping[str, int]] = ...) -> None: ...

class GetPerformanceRequest(_message.Message):
    __slots__ = ("window_seconds",)
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: int
    def __init__(self, window_seconds: _Optional[int] = ...) -> None: ...
