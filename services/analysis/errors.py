"""Errors of the analysis service, placed in the shared error tree.

OppsuiteError
├── FailedPrecondition
│   └── DataTooLarge           retrieved rows cannot fit the analysis input
└── StepFailed                 (ABORTED)
    ├── SqlRejected            step "query_generation": the guard refused the SQL
    ├── QueryFailed            step "data_retrieval": the engine refused or failed it
    └── ModelOutputInvalid     step given: a model's answer is unusable
"""

from __future__ import annotations

from services.common.errors import FailedPrecondition, StepFailed

__all__ = ["DataTooLarge", "ModelOutputInvalid", "QueryFailed", "SqlRejected"]


class SqlRejected(StepFailed):
    """Generated SQL broke a guard rule; the message says which one."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"SQL rejected: {reason}", step="query_generation")
        self.reason = reason


class QueryFailed(StepFailed):
    """The query engine could not run guarded SQL; the message carries the engine's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message, step="data_retrieval")


class ModelOutputInvalid(StepFailed):
    """A model answered, but nothing usable could be read from the answer."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message, step=step)


class DataTooLarge(FailedPrecondition):
    """The retrieved data exceeds what the analysis step accepts, even after truncation."""
