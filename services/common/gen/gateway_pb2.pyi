from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalyzeRequest(_message.Message):
    __slots__ = ("opportunity", "options")
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    opportunity: _types_pb2.Opportunity
    options: _types_pb2.AnalysisOptions
    def __init__(self, opportunity: _Optional[_Union[_types_pb2.Opportunity, _Mapping]] = ..., options: _Optional[_Union[_types_pb2.AnalysisOptions, _Mapping]] = ...) -> None: ...

class ResponseMeta(_message.Message):
    __slots__ = ("request_id", "cache_source", "steps", "queue_wait_ms", "total_ms", "sql", "row_count", "cache_key", "aws_call_count", "cost_usd")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    AWS_CALL_COUNT_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    cache_source: _types_pb2.CacheSource
    steps: _containers.RepeatedCompositeFieldContainer[_types_pb2.StepTiming]
    queue_wait_ms: float
    total_ms: float
    sql: str
    row_count: int
    cache_key: str
    aws_call_count: int
    cost_usd: float
    def __init__(self, request_id: _Optional[str] = ..., cache_source: _Optional[_Union[_types_pb2.CacheSource, str]] = ..., steps: _Optional[_Iterable[_Union[_types_pb2.StepTiming, _Mapping]]] = ..., queue_wait_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., sql: _Optional[str] = ..., row_count: _Optional[int] = ..., cache_key: _Optional[str] = ..., aws_call_count: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("analysis", "meta")
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    analysis: _types_pb2.Analysis
    meta: ResponseMeta
    def __init__(self, analysis: _Optional[_Union[_types_pb2.Analysis, _Mapping]] = ..., meta: _Optional[_Union[ResponseMeta, _Mapping]] = ...) -> None: ...

class QueuedEvent(_message.Message):
    __slots__ = ("position", "expected_wait_ms")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    position: int
    expected_wait_ms: float
    def __init__(self, position: _Optional[int] = ..., expected_wait_ms: _Optional[float] = ...) -> None: ...

class AnalyzeEvent(_message.Message):
    __slots__ = ("queued", "step", "result")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    queued: QueuedEvent
    step: _types_pb2.StepEvent
    result: AnalyzeResponse
    def __init__(self, queued: _Optional[_Union[QueuedEvent, _Mapping]] = ..., step: _Optional[_Union[_types_pb2.StepEvent, _Mapping]] = ..., result: _Optional[_Union[AnalyzeResponse, _Mapping]] = ...) -> None: ...
