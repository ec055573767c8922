"""Validation of an analysis request, before any work is done.

Every problem is reported at once, one field violation each, with the field's path
as the caller wrote it (``opportunity.close_date``). Text limits protect the model's
context and the cache; they are listed in the README.
"""

from __future__ import annotations

import re
from datetime import date

from services.common import domain
from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import types_pb2

__all__ = ["MAX_CHARS", "validate_request"]

REQUIRED = ("customer_name", "region", "close_date", "opportunity_name", "description")
MAX_CHARS: dict[str, int] = {
    "customer_name": 200,
    "region": 100,
    "close_date": 10,
    "opportunity_name": 300,
    "description": 10_000,
    "industry": 200,
    "customer_segment": 200,
    "partner_name": 200,
    "activity_focus": 500,
    "business_description": 5_000,
    "migration_phase": 100,
}
MIN_TRUNCATION_CHARS = 10_000
MAX_TRUNCATION_CHARS = 2_000_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text_violations(name: str, value: str) -> list[FieldViolation]:
    path = f"opportunity.{name}"
    if name in REQUIRED and not value.strip():
        return [FieldViolation(path, "is required")]
    if len(value) > MAX_CHARS[name]:
        return [FieldViolation(path, f"is {len(value)} characters; the limit is {MAX_CHARS[name]}")]
    if _CONTROL.search(value):
        return [FieldViolation(path, "contains control characters")]
    return []


def _close_date_violations(value: str) -> list[FieldViolation]:
    value = value.strip()
    if not value:
        return []  # already reported as required
    if not _DATE.match(value):
        return [FieldViolation("opportunity.close_date", f"{value!r} is not a YYYY-MM-DD date")]
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return [FieldViolation("opportunity.close_date", f"{value!r} is not a real calendar date")]
    if not 2000 <= parsed.year <= 2100:
        return [FieldViolation("opportunity.close_date", "must be between 2000 and 2100")]
    return []


def _options(message: types_pb2.AnalysisOptions) -> tuple[domain.Options, list[FieldViolation]]:
    violations: list[FieldViolation] = []
    limit = message.sql_row_limit or domain.DEFAULT_ROW_LIMIT
    if not domain.MIN_ROW_LIMIT <= limit <= domain.MAX_ROW_LIMIT:
        violations.append(
            FieldViolation(
                "options.sql_row_limit",
                f"{limit} is outside {domain.MIN_ROW_LIMIT}-{domain.MAX_ROW_LIMIT} (0 = default "
                f"{domain.DEFAULT_ROW_LIMIT})",
            )
        )
    chars = message.truncation_chars or domain.DEFAULT_TRUNCATION_CHARS
    if not MIN_TRUNCATION_CHARS <= chars <= MAX_TRUNCATION_CHARS:
        violations.append(
            FieldViolation(
                "options.truncation_chars",
                f"{chars} is outside {MIN_TRUNCATION_CHARS}-{MAX_TRUNCATION_CHARS} (0 = default "
                f"{domain.DEFAULT_TRUNCATION_CHARS})",
            )
        )
    options = domain.Options(
        sql_row_limit=limit,
        truncate=not message.disable_truncation,
        truncation_chars=chars,
        bypass_cache=message.bypass_cache,
    )
    return options, violations


def validate_request(
    opportunity: types_pb2.Opportunity | None, options: types_pb2.AnalysisOptions | None
) -> tuple[domain.Opportunity, domain.Options]:
    """The request as domain values, or InvalidInput listing every problem."""
    opportunity = opportunity if opportunity is not None else types_pb2.Opportunity()
    violations: list[FieldViolation] = []
    values: dict[str, str] = {}
    for name in MAX_CHARS:
        value = getattr(opportunity, name)
        violations += _text_violations(name, value)
        values[name] = value.strip()
    violations += _close_date_violations(opportunity.close_date)
    parsed_options, option_violations = _options(
        options if options is not None else types_pb2.AnalysisOptions()
    )
    violations += option_violations
    if violations:
        raise InvalidInput(violations)
    return domain.Opportunity(**values), parsed_options
