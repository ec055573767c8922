from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CacheEntry(_message.Message):
    __slots__ = ("analysis", "sql", "row_count", "compute_ms", "created_at_unix", "expires_at_unix", "hit_count", "versions", "cost_usd")
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    HIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    analysis: _types_pb2.Analysis
    sql: str
    row_count: int
    compute_ms: float
    created_at_unix: float
    expires_at_unix: float
    hit_count: int
    versions: str
    cost_usd: float
    def __init__(self, analysis: _Optional[_Union[_types_pb2.Analysis, _Mapping]] = ..., sql: _Optional[str] = ..., row_count: _Optional[int] = ..., compute_ms: _Optional[float] = ..., created_at_unix: _Optional[float] = ..., expires_at_unix: _Optional[float] = ..., hit_count: _Optional[int] = ..., versions: _Optional[str] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class CacheGetRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class CacheGetResponse(_message.Message):
    __slots__ = ("hit", "entry", "source")
    HIT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    hit: bool
    entry: CacheEntry
    source: _types_pb2.CacheSource
    def __init__(self, hit: _Optional[bool] = ..., entry: _Optional[_Union[CacheEntry, _Mapping]] = ..., source: _Optional[_Union[_types_pb2.CacheSource, str]] = ...) -> None: ...

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
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class CacheInvalidateResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class CacheStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TierStats(_message.Message):
    __slots__ = ("hits", "misses", "errors", "writes", "expired_filtered")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FILTERED_FIELD_NUMBER: _ClassVar[int]
    hits: int
    misses: int
    errors: int
    writes: int
    expired_filtered: int
    def __init__(self, hits: _Optional[int] = ..., misses: _Optional[int] = ..., errors: _Optional[int] = ..., writes: _Optional[int] = ..., expired_filtered: _Optional[int] = ...) -> None: ...

class CacheStats(_message.Message):
    __slots__ = ("tiers", "entries", "redis_used_memory_bytes", "compute_seconds_saved_total", "degraded")
    class TiersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TierStats
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TierStats, _Mapping]] = ...) -> None: ...
    TIERS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    REDIS_USED_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_SAVED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.MessageMap[str, TierStats]
    entries: int
    redis_used_memory_bytes: int
    compute_seconds_saved_total: float
    degraded: bool
    def __init__(self, tiers: _Optional[_Mapping[str, TierStats]] = ..., entries: _Optional[int] = ..., redis_used_memory_bytes: _Optional[int] = ..., compute_seconds_saved_total: _Optional[float] = ..., degraded: _Optional[bool] = ...) -> None: ...
