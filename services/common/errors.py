"""The error tree every service raises, and the one table that maps it to gRPC.

    OppsuiteError                      INTERNAL
    ├── InvalidInput                   INVALID_ARGUMENT (+ BadRequest field violations)
    ├── Unauthenticated                UNAUTHENTICATED
    ├── PermissionDenied               PERMISSION_DENIED
    ├── NotFound                       NOT_FOUND
    ├── FailedPrecondition             FAILED_PRECONDITION
    ├── Overloaded                     RESOURCE_EXHAUSTED (+ RetryInfo, QuotaFailure)
    ├── DeadlineExceeded               DEADLINE_EXCEEDED
    ├── DependencyUnavailable          UNAVAILABLE (+ RetryInfo when known)
    └── StepFailed                     ABORTED (a workflow step produced nothing usable)

Services subclass these in their own ``errors.py``; adapters translate library
exceptions at the seam (``raise DependencyUnavailable(...) from exc``). The
mapping to status codes lives only in ``STATUS_BY_ERROR`` and is applied by the
error interceptor (services.common.interceptors).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

__all__ = [
    "STATUS_BY_ERROR",
    "DeadlineExceeded",
    "DependencyUnavailable",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidInput",
    "NotFound",
    "OppsuiteError",
    "Overloaded",
    "PermissionDenied",
    "StepFailed",
    "Unauthenticated",
    "status_code_for",
]


class OppsuiteError(Exception):
    """Base of every error a service raises on purpose. The message is shown to callers."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidInput(OppsuiteError):
    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {summary}")


class Unauthenticated(OppsuiteError):
    pass


class PermissionDenied(OppsuiteError):
    pass


class NotFound(OppsuiteError):
    pass


class FailedPrecondition(OppsuiteError):
    pass


class Overloaded(OppsuiteError):
    """A limit fired. ``limit`` names it (client, global, queue_full, budget, ...)."""

    def __init__(self, message: str, *, limit: str, subject: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.subject = subject
        self.retry_after_s = max(0.0, retry_after_s)


class DeadlineExceeded(OppsuiteError):
    pass


class DependencyUnavailable(OppsuiteError):
    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StepFailed(OppsuiteError):
    """A workflow step could not produce a usable result (bad model output, failed query)."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


STATUS_BY_ERROR: dict[type[OppsuiteError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    DependencyUnavailable: grpc.StatusCode.UNAVAILABLE,
    StepFailed: grpc.StatusCode.ABORTED,
    OppsuiteError: grpc.StatusCode.INTERNAL,
}


def status_code_for(error: OppsuiteError) -> grpc.StatusCode:
    """The status of the nearest mapped ancestor of ``error``'s type."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL
