"""Every error a service raises on purpose maps to a deliberate gRPC status."""

from __future__ import annotations

import importlib
import pkgutil

import grpc
from google.rpc import error_details_pb2

import services
from services.common.errors import (
    STATUS_BY_ERROR,
    FieldViolation,
    InvalidInput,
    OppsuiteError,
    Overloaded,
    status_code_for,
)
from services.common.rpc_errors import to_grpc_status


def _all_error_classes() -> set[type[OppsuiteError]]:
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[OppsuiteError]] = set()
    stack: list[type[OppsuiteError]] = [OppsuiteError]
    while stack:
        cls = stack.pop()
        found.add(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_no_domain_error_falls_through_to_internal() -> None:
    unmapped = [
        cls.__qualname__
        for cls in _all_error_classes()
        if cls is not OppsuiteError
        and not any(base in STATUS_BY_ERROR and base is not OppsuiteError for base in cls.__mro__)
    ]
    assert unmapped == []


def test_invalid_input_carries_field_violations() -> None:
    status = to_grpc_status(InvalidInput([FieldViolation("opportunity.region", "is required")]))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    [(key, value)] = [(k, v) for k, v in status.trailing_metadata]
    assert key == "grpc-status-details-bin"
    from google.rpc import status_pb2

    decoded = status_pb2.Status.FromString(value)
    bad = error_details_pb2.BadRequest()
    assert decoded.details[0].Unpack(bad)
    assert bad.field_violations[0].field == "opportunity.region"


def test_overload_carries_exact_retry_delay_and_the_limit() -> None:
    error = Overloaded("client limit", limit="client", subject="client:crm", retry_after_s=1.25)
    assert status_code_for(error) == grpc.StatusCode.RESOURCE_EXHAUSTED
    from google.rpc import status_pb2

    decoded = status_pb2.Status.FromString(to_grpc_status(error).trailing_metadata[0][1])
    retry, quota = error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure()
    assert decoded.details[0].Unpack(retry) and decoded.details[1].Unpack(quota)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 250_000_000)
    assert quota.violations[0].subject == "client:crm"
    assert quota.violations[0].description.startswith("client:")
