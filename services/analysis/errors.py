"""Errors of the analysis service, placed in the shared error tree.

OppsuiteError
├── FailedPrecondition
│   └── DataTooLarge           retrieved rows cannot fit the analysis input
├── Overloaded                 (RESOURCE_EXHAUSTED)
│   └── UpstreamThrottled      AWS kept throttling until the deadline left no room
├── DeadlineExceeded
│   └── QueryWaitExceeded      Athena did not finish within ATHENA_MAX_WAIT_SECONDS
├── DependencyUnavailable      (UNAVAILABLE)
│   └── AwsUnavailable         an AWS endpoint could not be reached or failed (5xx)
└── StepFailed                 (ABORTED)
    ├── SqlRejected            step "query_generation": the guard refused the SQL
    ├── QueryFailed            step "data_retrieval": the engine refused or failed it
    │   ├── QueryCancelled     the Athena query was cancelled
    │   └── LambdaFailed       the query Lambda returned an error payload
    ├── ModelOutputInvalid     step given: a model's answer is unusable
    └── ModelCallRejected      step given: Bedrock refused the request (4xx)
"""

from __future__ import annotations

from services.common.errors import (
    DeadlineExceeded,
    DependencyUnavailable,
    FailedPrecondition,
    Overloaded,
    StepFailed,
)

__all__ = [
    "AwsUnavailable",
    "DataTooLarge",
    "LambdaFailed",
    "ModelCallRejected",
    "ModelOutputInvalid",
    "QueryCancelled",
    "QueryFailed",
    "QueryWaitExceeded",
    "SqlRejected",
    "UpstreamThrottled",
]


class SqlRejected(StepFailed):
    """Generated SQL broke a guard rule; the message says which one."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"SQL rejected: {reason}", step="query_generation")
        self.reason = reason


class QueryFailed(StepFailed):
    """The query engine could not run guarded SQL; the message carries the engine's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message, step="data_retrieval")


class QueryCancelled(QueryFailed):
    """Athena reports the query CANCELLED (by an operator or another client)."""


class LambdaFailed(QueryFailed):
    """The query Lambda answered with FunctionError or an error payload."""


class ModelOutputInvalid(StepFailed):
    """A model answered, but nothing usable could be read from the answer."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message, step=step)


class ModelCallRejected(StepFailed):
    """Bedrock refused the request itself (validation, access, unknown model)."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message, step=step)


class DataTooLarge(FailedPrecondition):
    """The retrieved data exceeds what the analysis step accepts, even after truncation."""


class UpstreamThrottled(Overloaded):
    """AWS throttled every attempt the deadline allowed; retry after ``retry_after_s``."""

    def __init__(self, message: str, *, service: str, retry_after_s: float) -> None:
        super().__init__(message, limit="upstream", subject=service, retry_after_s=retry_after_s)


class QueryWaitExceeded(DeadlineExceeded):
    """The Athena query was still running at its maximum wait; it has been stopped."""


class AwsUnavailable(DependencyUnavailable):
    """An AWS endpoint timed out, refused the connection or answered 5xx."""
