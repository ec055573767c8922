"""Turn domain errors into rich gRPC statuses (google.rpc details), and back on clients."""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import (
    DependencyUnavailable,
    InvalidInput,
    OppsuiteError,
    Overloaded,
    status_code_for,
)

__all__ = ["retry_delay_of", "to_grpc_status"]


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = math.floor(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def to_grpc_status(error: OppsuiteError) -> grpc.Status:
    """The status (code, message, details) a caller receives for ``error``."""
    code = status_code_for(error)
    details: list[any_pb2.Any] = []
    if isinstance(error, InvalidInput):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, Overloaded):
        details.append(
            _pack(error_details_pb2.RetryInfo(retry_delay=_duration(error.retry_after_s)))
        )
        details.append(
            _pack(
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(
                            subject=error.subject, description=f"{error.limit}: {error}"
                        )
                    ]
                )
            )
        )
    if isinstance(error, DependencyUnavailable) and error.retry_after_s is not None:
        details.append(
            _pack(error_details_pb2.RetryInfo(retry_delay=_duration(error.retry_after_s)))
        )
    status = status_pb2.Status(code=code.value[0], message=str(error), details=details)
    return rpc_status.to_status(status)


def retry_delay_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> float | None:
    """The RetryInfo delay a server attached to ``error``, in seconds, if any."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None
