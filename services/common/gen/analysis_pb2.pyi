from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunAnalysisRequest(_message.Message):
    __slots__ = ("opportunity", "options", "client_id")
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    opportunity: _types_pb2.Opportunity
    options: _types_pb2.AnalysisOptions
    client_id: str
    def __init__(self, opportunity: _Optional[_Union[_types_pb2.Opportunity, _Mapping]] = ..., options: _Optional[_Union[_types_pb2.AnalysisOptions, _Mapping]] = ..., client_id: _Optional[str] = ...) -> None: ...

class RunAnalysisResponse(_message.Message):
    __slots__ = ("analysis", "steps", "sql", "row_count", "aws_call_count", "cost_usd", "aws_calls_by_operation", "compute_ms", "bedrock_input_tokens", "bedrock_output_tokens", "athena_bytes_scanned", "lambda_billed_ms", "aws_ms", "rows_analyzed")
    class AwsCallsByOperationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    AWS_CALL_COUNT_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    AWS_CALLS_BY_OPERATION_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    BEDROCK_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BEDROCK_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ATHENA_BYTES_SCANNED_FIELD_NUMBER: _ClassVar[int]
    LAMBDA_BILLED_MS_FIELD_NUMBER: _ClassVar[int]
    AWS_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    analysis: _types_pb2.Analysis
    steps: _containers.RepeatedCompositeFieldContainer[_types_pb2.StepTiming]
    sql: str
    row_count: int
    aws_call_count: int
    cost_usd: float
    aws_calls_by_operation: _containers.ScalarMap[str, int]
    compute_ms: float
    bedrock_input_tokens: int
    bedrock_output_tokens: int
    athena_bytes_scanned: int
    lambda_billed_ms: float
    aws_ms: float
    rows_analyzed: int
    def __init__(self, analysis: _Optional[_Union[_types_pb2.Analysis, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[_types_pb2.StepTiming, _Mapping]]] = ..., sql: _Optional[str] = ..., row_count: _Optional[int] = ..., aws_call_count: _Optional[int] = ..., cost_usd: _Optional[float] = ..., aws_calls_by_operation: _Optional[_Mapping[str, int]] = ..., compute_ms: _Optional[float] = ..., bedrock_input_tokens: _Optional[int] = ..., bedrock_output_tokens: _Optional[int] = ..., athena_bytes_scanned: _Optional[int] = ..., lambda_billed_ms: _Optional[float] = ..., aws_ms: _Optional[float] = ..., rows_analyzed: _Optional[int] = ...) -> None: ...

class RunAnalysisEvent(_message.Message):
    __slots__ = ("step", "result")
    STEP_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    step: _types_pb2.StepEvent
    result: RunAnalysisResponse
    def __init__(self, step: _Optional[_Union[_types_pb2.StepEvent, _Mapping]] = ..., result: _Optional[_Union[RunAnalysisResponse, _Mapping]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("provider", "query_model_id", "analysis_model_id", "query_prompt_version", "analysis_prompt_version", "schema_version", "dataset_version")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    QUERY_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    provider: str
    query_model_id: str
    analysis_model_id: str
    query_prompt_version: str
    analysis_prompt_version: str
    schema_version: str
    dataset_version: str
    def __init__(self, provider: _Optional[str] = ..., query_model_id: _Optional[str] = ..., analysis_model_id: _Optional[str] = ..., query_prompt_version: _Optional[str] = ..., analysis_prompt_version: _Optional[str] = ..., schema_version: _Optional[str] = ..., dataset_version: _Optional[str] = ...) -> None: ...
