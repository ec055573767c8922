from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CacheEntry(_message.Message):
    __slots__ = ("analysis", "sql", "row_count", "compute_ms", "created_at_unix", "expires_at_unix", "hit_count", "versions", "cost_usd", "opportunity", "options", "size_bytes")
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    HIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    analysis: _types_pb2.Analysis
    sql: str
    row_count: int
    compute_ms: float
    created_at_unix: float
    expires_at_unix: float
    hit_count: int
    versions: str
    cost_usd: float
    opportunity: _types_pb2.Opportunity
    options: _types_pb2.AnalysisOptions
    size_bytes: int
    def __init__(self, analysis: _Optional[_Union[_types_pb2.Analysis, _Mapping]] = ..., sql: _Optional[str] = ..., row_count: _Optional[int] = ..., compute_ms: _Optional[float] = ..., created_at_unix: _Optional[float] = ..., expires_at_unix: _Optional[float] = ..., hit_count: _Optional[int] = ..., versions: _Optional[str] = ..., cost_usd: _Optional[float] = ..., opportunity: _Optional[_Union[_types_pb2.Opportunity, _Mapping]] = ..., options: _Optional[_Union[_types_pb2.AnalysisOptions, _Mapping]] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class CacheGetRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class CacheGetResponse(_message.Message):
    __slots__ = ("hit", "entry", "source", "refresh_early")
    HIT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_EARLY_FIELD_NUMBER: _ClassVar[int]
    hit: bool
    entry: CacheEntry
    source: _types_pb2.CacheSource
    refresh_early: bool
    def __init__(self, hit: _Optional[bool] = ..., entry: _Optional[_Union[CacheEntry, _Mapping]] = ..., source: _Optional[_Union[_types_pb2.CacheSource, str]] = ..., refresh_early: _Optional[bool] = ...) -> None: ...

class CacheBatchGetRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class CacheBatchGetResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CacheGetResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[CacheGetResponse, _Mapping]]] = ...) -> None: ...

class CachePutRequest(_message.Message):
    __slots__ = ("key", "entry")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    key: str
    entry: CacheEntry
    def __init__(self, key: _Optional[str] = ..., entry: _Optional[_Union[CacheEntry, _Mapping]] = ...) -> None: ...

class CachePutResponse(_message.Message):
    __slots__ = ("stored", "ttl_seconds")
    STORED_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    stored: bool
    ttl_seconds: float
    def __init__(self, stored: _Optional[bool] = ..., ttl_seconds: _Optional[float] = ...) -> None: ...

class CacheBatchPutRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[CachePutRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[CachePutRequest, _Mapping]]] = ...) -> None: ...

class CacheBatchPutResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CachePutResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[CachePutResponse, _Mapping]]] = ...) -> None: ...

class CacheInvalidateRequest(_message.Message):
    __slots__ = ("keys", "tiers")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    tiers: _containers.RepeatedScalarFieldContainer[_types_pb2.CacheSource]
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., tiers: _Optional[_Iterable[_Union[_types_pb2.CacheSource, str]]] = ...) -> None: ...

class CacheInvalidateResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class CacheStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TierStats(_message.Message):
    __slots__ = ("hits", "misses", "errors", "writes", "expired_filtered", "promotions", "bytes_read", "bytes_written", "entries")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FILTERED_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    BYTES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    hits: int
    misses: int
    errors: int
    writes: int
    expired_filtered: int
    promotions: int
    bytes_read: int
    bytes_written: int
    entries: int
    def __init__(self, hits: _Optional[int] = ..., misses: _Optional[int] = ..., errors: _Optional[int] = ..., writes: _Optional[int] = ..., expired_filtered: _Optional[int] = ..., promotions: _Optional[int] = ..., bytes_read: _Optional[int] = ..., bytes_written: _Optional[int] = ..., entries: _Optional[int] = ...) -> None: ...

class CacheStats(_message.Message):
    __slots__ = ("tiers", "entries", "redis_used_memory_bytes", "compute_seconds_saved_total", "degraded", "lease_waits", "early_refreshes", "l2_write_queue_depth", "l2_writes_dropped", "tiers_up", "l2_writes_flushed")
    class TiersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TierStats
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TierStats, _Mapping]] = ...) -> None: ...
    class TiersUpEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    TIERS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    REDIS_USED_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_SAVED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    LEASE_WAITS_FIELD_NUMBER: _ClassVar[int]
    EARLY_REFRESHES_FIELD_NUMBER: _ClassVar[int]
    L2_WRITE_QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    L2_WRITES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    TIERS_UP_FIELD_NUMBER: _ClassVar[int]
    L2_WRITES_FLUSHED_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.MessageMap[str, TierStats]
    entries: int
    redis_used_memory_bytes: int
    compute_seconds_saved_total: float
    degraded: bool
    lease_waits: int
    early_refreshes: int
    l2_write_queue_depth: int
    l2_writes_dropped: int
    tiers_up: _containers.ScalarMap[str, bool]
    l2_writes_flushed: int
    def __init__(self, tiers: _Optional[_Mapping[str, TierStats]] = ..., entries: _Optional[int] = ..., redis_used_memory_bytes: _Optional[int] = ..., compute_seconds_saved_total: _Optional[float] = ..., degraded: _Optional[bool] = ..., lease_waits: _Optional[int] = ..., early_refreshes: _Optional[int] = ..., l2_write_queue_depth: _Optional[int] = ..., l2_writes_dropped: _Optional[int] = ..., tiers_up: _Optional[_Mapping[str, bool]] = ..., l2_writes_flushed: _Optional[int] = ...) -> None: ...

class CacheLeaseRequest(_message.Message):
    __slots__ = ("key", "ttl_ms", "holder", "token", "refresh")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    key: str
    ttl_ms: int
    holder: str
    token: str
    refresh: bool
    def __init__(self, key: _Optional[str] = ..., ttl_ms: _Optional[int] = ..., holder: _Optional[str] = ..., token: _Optional[str] = ..., refresh: _Optional[bool] = ...) -> None: ...

class CacheLeaseResponse(_message.Message):
    __slots__ = ("granted", "token", "ttl_ms", "holder", "remaining_ms", "entry_exists")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    REMAINING_MS_FIELD_NUMBER: _ClassVar[int]
    ENTRY_EXISTS_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    token: str
    ttl_ms: int
    holder: str
    remaining_ms: int
    entry_exists: bool
    def __init__(self, granted: _Optional[bool] = ..., token: _Optional[str] = ..., ttl_ms: _Optional[int] = ..., holder: _Optional[str] = ..., remaining_ms: _Optional[int] = ..., entry_exists: _Optional[bool] = ...) -> None: ...

class CacheReleaseRequest(_message.Message):
    __slots__ = ("key", "token")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: str
    token: str
    def __init__(self, key: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class CacheReleaseResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...

class CacheWaitRequest(_message.Message):
    __slots__ = ("key", "timeout_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    key: str
    timeout_ms: int
    def __init__(self, key: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class CacheWarmRequest(_message.Message):
    __slots__ = ("keys", "top_k", "budget_seconds", "from_l2")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    BUDGET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_L2_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    budget_seconds: float
    from_l2: bool
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ..., budget_seconds: _Optional[float] = ..., from_l2: _Optional[bool] = ...) -> None: ...

class CacheWarmResponse(_message.Message):
    __slots__ = ("considered", "warmed", "skipped", "compute_seconds", "warmed_keys")
    CONSIDERED_FIELD_NUMBER: _ClassVar[int]
    WARMED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WARMED_KEYS_FIELD_NUMBER: _ClassVar[int]
    considered: int
    warmed: int
    skipped: int
    compute_seconds: float
    warmed_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, considered: _Optional[int] = ..., warmed: _Optional[int] = ..., skipped: _Optional[int] = ..., compute_seconds: _Optional[float] = ..., warmed_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class CacheCleanupRequest(_message.Message):
    __slots__ = ("apply", "max_entries", "min_score")
    APPLY_FIELD_NUMBER: _ClassVar[int]
    MAX_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    apply: bool
    max_entries: int
    min_score: float
    def __init__(self, apply: _Optional[bool] = ..., max_entries: _Optional[int] = ..., min_score: _Optional[float] = ...) -> None: ...

class CleanupCandidate(_message.Message):
    __slots__ = ("key", "score", "reason", "size_bytes", "confidence_score", "hit_count", "age_seconds")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    HIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    key: str
    score: float
    reason: str
    size_bytes: int
    confidence_score: int
    hit_count: int
    age_seconds: float
    def __init__(self, key: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., size_bytes: _Optional[int] = ..., confidence_score: _Optional[int] = ..., hit_count: _Optional[int] = ..., age_seconds: _Optional[float] = ...) -> None: ...

class CacheCleanupResponse(_message.Message):
    __slots__ = ("applied", "scanned", "candidates", "removed", "bytes_freed")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_FREED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    scanned: int
    candidates: _containers.RepeatedCompositeFieldContainer[CleanupCandidate]
    removed: int
    bytes_freed: int
    def __init__(self, applied: _Optional[bool] = ..., scanned: _Optional[int] = ..., candidates: _Optional[_Iterable[_Union[CleanupCandidate, _Mapping]]] = ..., removed: _Optional[int] = ..., bytes_freed: _Optional[int] = ...) -> None: ...
