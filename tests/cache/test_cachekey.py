from __future__ import annotations

import dataclasses
import re

import pytest

from services.common.cachekey import Fingerprint, cache_key, normalize_text
from services.common.domain import Opportunity, Options

OPPORTUNITY = Opportunity(
    customer_name="Acme Retail",
    region="NAMER",
    close_date="2025-09-30",
    opportunity_name="Data lake migration",
    description="Move the on-prem Hadoop cluster to a managed lake.",
    industry="Retail",
    customer_segment="Enterprise",
    partner_name="Contoso Consulting",
    activity_focus="Migration",
    business_description="Nationwide grocery chain with 900 stores.",
    migration_phase="Mobilize",
)
OPTIONS = Options(sql_row_limit=200, truncate=True, truncation_chars=400_000)
FINGERPRINT = Fingerprint(
    provider="bedrock",
    query_model_id="model-q",
    analysis_model_id="model-a",
    query_prompt_version="q-3",
    analysis_prompt_version="a-7",
    schema_version="s-2",
    dataset_version="d-2025-06",
)


def key(
    opportunity: Opportunity = OPPORTUNITY,
    options: Options = OPTIONS,
    fingerprint: Fingerprint = FINGERPRINT,
) -> str:
    return cache_key(opportunity, options, fingerprint)


def test_key_shape() -> None:
    assert re.fullmatch(r"opp:v1:[0-9a-f]{64}", key())


def test_key_is_pinned() -> None:
    # A change to the canonical form must come with a new "opp:vN:" prefix; this
    # value changing without one means every replica's cache silently splits.
    assert key() == PINNED_KEY


def _noisy(value: str) -> str:
    return "  " + value.upper().replace(" ", " \t\n ") + "  "


def test_whitespace_and_case_do_not_change_the_key() -> None:
    noisy = {
        f.name: _noisy(getattr(OPPORTUNITY, f.name))
        for f in dataclasses.fields(OPPORTUNITY)
        if f.name != "close_date"
    }
    retyped = dataclasses.replace(OPPORTUNITY, close_date=" 2025-09-30 ", **noisy)
    assert key(retyped) == key()


def test_unicode_compatibility_forms_do_not_change_the_key() -> None:
    wide = dataclasses.replace(OPPORTUNITY, customer_name="\uff21\uff43\uff4d\uff45\u00a0Retail")
    assert key(wide) == key()


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Opportunity)])
def test_every_opportunity_field_changes_the_key(name: str) -> None:
    value = "2025-10-01" if name == "close_date" else getattr(OPPORTUNITY, name) + " x"
    assert key(dataclasses.replace(OPPORTUNITY, **{name: value})) != key()


def test_empty_optional_field_differs_from_filled() -> None:
    assert key(dataclasses.replace(OPPORTUNITY, partner_name="")) != key()


def test_values_do_not_bleed_between_fields() -> None:
    a = dataclasses.replace(OPPORTUNITY, industry="Retail", customer_segment="")
    b = dataclasses.replace(OPPORTUNITY, industry="", customer_segment="Retail")
    assert key(a) != key(b)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Fingerprint)])
def test_every_fingerprint_field_changes_the_key(name: str) -> None:
    changed = dataclasses.replace(FINGERPRINT, **{name: getattr(FINGERPRINT, name) + "-next"})
    assert key(fingerprint=changed) != key()


def test_prompt_version_change_changes_the_key() -> None:
    bumped = dataclasses.replace(FINGERPRINT, analysis_prompt_version="a-8")
    assert key(fingerprint=bumped) != key()


@pytest.mark.parametrize(
    "options",
    [
        Options(sql_row_limit=300),
        Options(truncate=False),
        Options(truncation_chars=100_000),
    ],
)
def test_result_shaping_options_change_the_key(options: Options) -> None:
    assert key(options=options) != key()


def test_bypass_cache_does_not_change_the_key() -> None:
    assert key(options=dataclasses.replace(OPTIONS, bypass_cache=True)) == key()


def test_truncation_chars_ignored_when_truncation_is_off() -> None:
    off_a = Options(truncate=False, truncation_chars=100_000)
    off_b = Options(truncate=False, truncation_chars=900_000)
    assert key(options=off_a) == key(options=off_b)


def test_normalize_text() -> None:
    assert normalize_text("  Straße \t Nord\n") == "strasse nord"


def test_fingerprint_describe_lists_every_field() -> None:
    assert FINGERPRINT.describe() == "bedrock/model-q/model-a/q-3/a-7/s-2/d-2025-06"


PINNED_KEY = "opp:v1:da5f65dcbad8c6166f2dd0f00e98f09a6c45036187c5d3b3a3a3514129419228"
