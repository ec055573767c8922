"""Which failed requests count against the error rate the monitor alerts on."""

from __future__ import annotations

import pytest

from services.common.errors import (
    DeadlineExceeded,
    DependencyUnavailable,
    FieldViolation,
    InvalidInput,
    OppsuiteError,
    Overloaded,
    StepFailed,
    Unauthenticated,
)
from services.gateway.servicer import is_refusal


@pytest.mark.parametrize(
    "error",
    [
        InvalidInput([FieldViolation("opportunity.region", "is required")]),
        Unauthenticated("unknown API key"),
        Overloaded("over", limit="client", subject="client:crm", retry_after_s=1),
        Overloaded("over", limit="global", subject="global", retry_after_s=1),
    ],
)
def test_a_callers_own_fault_or_limit_is_a_refusal_not_an_error(error: OppsuiteError) -> None:
    assert is_refusal(error)


@pytest.mark.parametrize(
    "error",
    [
        Overloaded("queue full", limit="queue_full", subject="queue", retry_after_s=1),
        Overloaded("throttled", limit="upstream", subject="analysis", retry_after_s=1),
        DeadlineExceeded("too slow"),
        DependencyUnavailable("analysis is down"),
        StepFailed("bad model output", step="analysis"),
        OppsuiteError("bug"),
    ],
)
def test_the_services_own_failures_and_overload_count_as_errors(error: OppsuiteError) -> None:
    assert not is_refusal(error)
