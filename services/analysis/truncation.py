"""Fitting retrieved rows into the analysis model's input, at row boundaries.

Rows become one compact JSON object per line. With truncation on, whole rows are kept
in order while they fit the character budget, so what the model sees is always valid
data (never half a row). Either way the prompt plus data plus the answer must fit the
model's context (estimated at ``chars_per_token``); if it cannot, ``DataTooLarge``
(FAILED_PRECONDITION) is raised instead of making a call that is sure to fail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from services.analysis.errors import DataTooLarge
from services.analysis.provider import Row

__all__ = ["ContextBudget", "FittedRows", "fit_rows"]


@dataclass(frozen=True)
class ContextBudget:
    context_tokens: int
    max_output_tokens: int
    chars_per_token: float

    def input_chars(self) -> int:
        return int((self.context_tokens - self.max_output_tokens) * self.chars_per_token)


@dataclass(frozen=True)
class FittedRows:
    text: str  # the kept rows, one JSON object per line
    kept: int
    total: int

    @property
    def truncated(self) -> bool:
        return self.kept < self.total


# One encoder for every row: json.dumps with options builds a new one per call (a third
# of the cost of a short row). Encoders keep no state between calls.
_ENCODE_ROW = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def _line(row: Row) -> str:
    return _ENCODE_ROW(row)


def fit_rows(
    rows: Sequence[Row],
    *,
    truncate: bool,
    budget_chars: int,
    prompt_chars: int,
    context: ContextBudget,
) -> FittedRows:
    if truncate:
        # Rows past the budget are never encoded: a large result costs only what is kept.
        lines: list[str] = []
        used = 0
        for row in rows:
            line = _line(row)
            cost = len(line) + 1  # the newline that separates it
            if used + cost > budget_chars:
                if not lines:
                    raise DataTooLarge(
                        f"the truncation budget ({budget_chars} characters) is smaller than "
                        f"the first row ({cost} characters); raise options.truncation_chars"
                    )
                break
            lines.append(line)
            used += cost
    else:
        lines = [_line(row) for row in rows]
    text = "\n".join(lines)
    limit = context.input_chars()
    if prompt_chars + len(text) > limit:
        tokens = int((prompt_chars + len(text)) / context.chars_per_token)
        advice = (
            "lower options.truncation_chars"
            if truncate
            else "enable truncation or lower options.sql_row_limit"
        )
        raise DataTooLarge(
            f"the analysis input (~{tokens} tokens for {len(lines)} rows) exceeds the model "
            f"context ({context.context_tokens} tokens, {context.max_output_tokens} kept for "
            f"the answer); {advice}"
        )
    return FittedRows(text, len(lines), len(rows))
