from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_UNSPECIFIED: _ClassVar[AlertState]
    ALERT_STATE_PENDING: _ClassVar[AlertState]
    ALERT_STATE_FIRING: _ClassVar[AlertState]
    ALERT_STATE_RESOLVED: _ClassVar[AlertState]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]
ALERT_STATE_UNSPECIFIED: AlertState
ALERT_STATE_PENDING: AlertState
ALERT_STATE_FIRING: AlertState
ALERT_STATE_RESOLVED: AlertState
SEVERITY_UNSPECIFIED: Severity
SEVERITY_WARNING: Severity
SEVERITY_CRITICAL: Severity

class HistogramDelta(_message.Message):
    __slots__ = ("name", "labels", "buckets", "zero_count", "sum", "count", "max")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class BucketsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    ZERO_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    buckets: _containers.ScalarMap[int, int]
    zero_count: int
    sum: float
    count: int
    max: float
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., buckets: _Optional[_Mapping[int, int]] = ..., zero_count: _Optional[int] = ..., sum: _Optional[float] = ..., count: _Optional[int] = ..., max: _Optional[float] = ...) -> None: ...

class CounterDelta(_message.Message):
    __slots__ = ("name", "labels", "value")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    value: float
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ...) -> None: ...

class GaugeValue(_message.Message):
    __slots__ = ("name", "labels", "value")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    value: float
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ...) -> None: ...

class MetricReport(_message.Message):
    __slots__ = ("service", "instance", "sent_at_unix", "histograms", "counters", "gauges")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAMS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    GAUGES_FIELD_NUMBER: _ClassVar[int]
    service: str
    instance: str
    sent_at_unix: float
    histograms: _containers.RepeatedCompositeFieldContainer[HistogramDelta]
    counters: _containers.RepeatedCompositeFieldContainer[CounterDelta]
    gauges: _containers.RepeatedCompositeFieldContainer[GaugeValue]
    def __init__(self, service: _Optional[str] = ..., instance: _Optional[str] = ..., sent_at_unix: _Optional[float] = ..., histograms: _Optional[_Iterable[_Union[HistogramDelta, _Mapping]]] = ..., counters: _Optional[_Iterable[_Union[CounterDelta, _Mapping]]] = ..., gauges: _Optional[_Iterable[_Union[GaugeValue, _Mapping]]] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("fingerprint", "name", "severity", "state", "group", "labels", "value", "threshold", "comparison", "active_since_unix", "firing_since_unix", "resolved_at_unix", "summary", "look_at", "silenced_by", "inhibited")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SINCE_UNIX_FIELD_NUMBER: _ClassVar[int]
    FIRING_SINCE_UNIX_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    LOOK_AT_FIELD_NUMBER: _ClassVar[int]
    SILENCED_BY_FIELD_NUMBER: _ClassVar[int]
    INHIBITED_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    name: str
    severity: Severity
    state: AlertState
    group: str
    labels: _containers.ScalarMap[str, str]
    value: float
    threshold: float
    comparison: str
    active_since_unix: float
    firing_since_unix: float
    resolved_at_unix: float
    summary: str
    look_at: str
    silenced_by: _containers.RepeatedScalarFieldContainer[str]
    inhibited: bool
    def __init__(self, fingerprint: _Optional[str] = ..., name: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., state: _Optional[_Union[AlertState, str]] = ..., group: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., comparison: _Optional[str] = ..., active_since_unix: _Optional[float] = ..., firing_since_unix: _Optional[float] = ..., resolved_at_unix: _Optional[float] = ..., summary: _Optional[str] = ..., look_at: _Optional[str] = ..., silenced_by: _Optional[_Iterable[str]] = ..., inhibited: _Optional[bool] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("include_resolved",)
    INCLUDE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    include_resolved: bool
    def __init__(self, include_resolved: _Optional[bool] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "silences")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    SILENCES_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    silences: _containers.RepeatedCompositeFieldContainer[Silence]
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., silences: _Optional[_Iterable[_Union[Silence, _Mapping]]] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("send_current",)
    SEND_CURRENT_FIELD_NUMBER: _ClassVar[int]
    send_current: bool
    def __init__(self, send_current: _Optional[bool] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("alert", "previous", "at_unix")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    previous: AlertState
    at_unix: float
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ..., previous: _Optional[_Union[AlertState, str]] = ..., at_unix: _Optional[float] = ...) -> None: ...

class Matcher(_message.Message):
    __slots__ = ("name", "value", "regex")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    regex: bool
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., regex: _Optional[bool] = ...) -> None: ...

class Silence(_message.Message):
    __slots__ = ("id", "matchers", "starts_at_unix", "ends_at_unix", "author", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    matchers: _containers.RepeatedCompositeFieldContainer[Matcher]
    starts_at_unix: float
    ends_at_unix: float
    author: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., matchers: _Optional[_Iterable[_Union[Matcher, _Mapping]]] = ..., starts_at_unix: _Optional[float] = ..., ends_at_unix: _Optional[float] = ..., author: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CreateSilenceRequest(_message.Message):
    __slots__ = ("matchers", "ends_at_unix", "duration_seconds", "author", "reason")
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    matchers: _containers.RepeatedCompositeFieldContainer[Matcher]
    ends_at_unix: float
    duration_seconds: float
    author: str
    reason: str
    def __init__(self, matchers: _Optional[_Iterable[_Union[Matcher, _Mapping]]] = ..., ends_at_unix: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., author: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeleteSilenceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetCostRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CostReport(_message.Message):
    __slots__ = ("day", "month", "total_usd_day", "total_usd_month", "by_client_usd_day", "by_client_usd_month", "daily_budget_usd", "monthly_budget_usd", "daily_budget_used", "monthly_budget_used", "avoided_usd_day", "avoided_usd_month", "avoided_by_source_usd_month", "generated_at_unix")
    class ByClientUsdDayEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ByClientUsdMonthEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class AvoidedBySourceUsdMonthEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DAY_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_USD_DAY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_USD_MONTH_FIELD_NUMBER: _ClassVar[int]
    BY_CLIENT_USD_DAY_FIELD_NUMBER: _ClassVar[int]
    BY_CLIENT_USD_MONTH_FIELD_NUMBER: _ClassVar[int]
    DAILY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    DAILY_BUDGET_USED_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_USED_FIELD_NUMBER: _ClassVar[int]
    AVOIDED_USD_DAY_FIELD_NUMBER: _ClassVar[int]
    AVOIDED_USD_MONTH_FIELD_NUMBER: _ClassVar[int]
    AVOIDED_BY_SOURCE_USD_MONTH_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    day: str
    month: str
    total_usd_day: float
    total_usd_month: float
    by_client_usd_day: _containers.ScalarMap[str, float]
    by_client_usd_month: _containers.ScalarMap[str, float]
    daily_budget_usd: float
    monthly_budget_usd: float
    daily_budget_used: float
    monthly_budget_used: float
    avoided_usd_day: float
    avoided_usd_month: float
    avoided_by_source_usd_month: _containers.ScalarMap[str, float]
    generated_at_unix: float
    def __init__(self, day: _Optional[str] = ..., month: _Optional[str] = ..., total_usd_day: _Optional[float] = ..., total_usd_month: _Optional[float] = ..., by_client_usd_day: _Optional[_Mapping[str, float]] = ..., by_client_usd_month: _Optional[_Mapping[str, float]] = ..., daily_budget_usd: _Optional[float] = ..., monthly_budget_usd: _Optional[float] = ..., daily_budget_used: _Optional[float] = ..., monthly_budget_used: _Optional[float] = ..., avoided_usd_day: _Optional[float] = ..., avoided_usd_month: _Optional[float] = ..., avoided_by_source_usd_month: _Optional[_Mapping[str, float]] = ..., generated_at_unix: _Optional[float] = ...) -> None: ...

class SendTestAlertRequest(_message.Message):
    __slots__ = ("channels", "requested_by", "wait_seconds")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    requested_by: str
    wait_seconds: float
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., requested_by: _Optional[str] = ..., wait_seconds: _Optional[float] = ...) -> None: ...

class ChannelDelivery(_message.Message):
    __slots__ = ("channel", "delivered", "attempts", "latency_ms", "error", "pending")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    channel: str
    delivered: bool
    attempts: int
    latency_ms: float
    error: str
    pending: bool
    def __init__(self, channel: _Optional[str] = ..., delivered: _Optional[bool] = ..., attempts: _Optional[int] = ..., latency_ms: _Optional[float] = ..., error: _Optional[str] = ..., pending: _Optional[bool] = ...) -> None: ...

class SendTestAlertResponse(_message.Message):
    __slots__ = ("test_id", "deliveries", "sent_at_unix")
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    deliveries: _containers.RepeatedCompositeFieldContainer[ChannelDelivery]
    sent_at_unix: float
    def __init__(self, test_id: _Optional[str] = ..., deliveries: _Optional[_Iterable[_Union[ChannelDelivery, _Mapping]]] = ..., sent_at_unix: _Optional[float] = ...) -> None: ...
