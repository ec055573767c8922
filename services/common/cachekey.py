"""The cache key of an analysis: one digest every replica computes the same way.

The key covers everything that changes the answer (the opportunity, the options that
shape the query and its input, and the provider/model/prompt/schema/dataset
fingerprint) and nothing that does not (``bypass_cache``, whitespace, letter case).

Normalisation choice: every text field is Unicode-normalised (NFKC), trimmed, has its
internal whitespace collapsed to single spaces, and is case-folded, free text
included. The model's estimate does not depend on letter case, so folding free text
too turns more retyped requests into hits at no cost in correctness. ``close_date``
is only trimmed: validation has already pinned it to ``YYYY-MM-DD``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from dataclasses import dataclass

from services.common.domain import Opportunity, Options

__all__ = ["KEY_PREFIX", "Fingerprint", "cache_key", "normalize_text"]

# Bump the version segment whenever the canonical form below changes, so old and
# new keys can never collide.
KEY_PREFIX = "opp:v1:"

# Fields compared as written (apart from trimming) rather than as free text.
_VERBATIM_FIELDS = frozenset({"close_date"})


@dataclass(frozen=True)
class Fingerprint:
    """What produced an answer; any change here must miss the old entries."""

    provider: str
    query_model_id: str
    analysis_model_id: str
    query_prompt_version: str
    analysis_prompt_version: str
    schema_version: str
    dataset_version: str

    def describe(self) -> str:
        """A readable one-line form, for ``CacheEntry.versions``."""
        return "/".join(str(v) for v in dataclasses.astuple(self))


def normalize_text(value: str) -> str:
    """NFKC, trimmed, whitespace runs collapsed to one space, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()


def _opportunity_part(opportunity: Opportunity) -> dict[str, str]:
    # Iterating the dataclass fields means a field added to Opportunity later is
    # part of the key without anyone remembering to add it here.
    part: dict[str, str] = {}
    for f in dataclasses.fields(opportunity):
        value = str(getattr(opportunity, f.name))
        part[f.name] = value.strip() if f.name in _VERBATIM_FIELDS else normalize_text(value)
    return part


def _options_part(options: Options) -> dict[str, int | bool]:
    # bypass_cache is deliberately absent: it decides whether to read, not what.
    part: dict[str, int | bool] = {
        "sql_row_limit": options.sql_row_limit,
        "truncate": options.truncate,
    }
    if options.truncate:
        part["truncation_chars"] = options.truncation_chars
    return part


def cache_key(opportunity: Opportunity, options: Options, fingerprint: Fingerprint) -> str:
    """``opp:v1:`` + sha256 hex of the canonical JSON of what determines the answer."""
    document = {
        "opportunity": _opportunity_part(opportunity),
        "options": _options_part(options),
        "fingerprint": dataclasses.asdict(fingerprint),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
