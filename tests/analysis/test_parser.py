"""The tolerant parser: one fixture file per case, plus fuzzing for "never raises"."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from services.analysis.parser import parse_amount, parse_analysis
from services.common.domain import Analysis, Confidence, ServiceCost

FIXTURES = Path(__file__).parent / "parser_fixtures"


def parse_fixture(name: str) -> Analysis:
    return parse_analysis((FIXTURES / f"{name}.txt").read_text(encoding="utf-8"))


def errors_mentioning(analysis: Analysis, needle: str) -> list[str]:
    return [error for error in analysis.validation_errors if needle in error]


@pytest.mark.parametrize("name", ["markers_with_spaces", "markers_with_underscores"])
def test_well_formed_answer_parses_without_errors(name):
    analysis = parse_fixture(name)

    assert analysis.validation_errors == ()
    assert analysis.predicted_arr_usd == 1_800_000
    assert analysis.predicted_mrr_usd == 135_000
    assert analysis.launch_date == "2026-03"
    assert analysis.project_duration_months == 6
    assert analysis.confidence is Confidence.HIGH
    assert analysis.confidence_score == 82
    assert analysis.top_services == (
        ServiceCost("Amazon EC2", 60_000, 100_000),
        ServiceCost("Amazon RDS", 40_000, 50_000),
        ServiceCost("Amazon S3", 20_000, 0),
        ServiceCost("AWS Lambda", 10_000, 30_000),
        ServiceCost("Other", 5_000, 0),
    )
    assert analysis.methodology.startswith("Compared the opportunity")
    assert analysis.risk_factors == "- Scope may grow after discovery."


def test_similar_projects_keep_their_fields_and_services():
    projects = parse_fixture("markers_with_spaces").similar_projects

    assert [p.project_name for p in projects] == [
        "Northwind ERP Migration",
        "Contoso Data Lake",
        "Fabrikam Web Platform",
    ]
    first = projects[0]
    assert (first.customer, first.industry, first.region) == (
        "Northwind Traders",
        "Retail",
        "us-east",
    )
    assert (first.close_date, first.total_mrr_usd, first.total_arr_usd) == (
        "2024-02-15",
        120_000,
        1_540_000,
    )
    assert first.services == (
        ServiceCost("Amazon EC2", 70_000, 100_000),
        ServiceCost("Amazon RDS", 50_000, 0),
    )
    # Inline services separated by semicolons.
    assert [s.name for s in projects[1].services] == ["Amazon S3", "AWS Glue"]


def test_architecture_labels_span_lines_until_the_next_label():
    architecture = parse_fixture("markers_with_spaces").architecture

    assert architecture.network_foundation == (
        "Amazon VPC across three availability zones\nwith AWS Direct Connect to the data centre."
    )
    assert architecture.compute_layer == "Amazon EC2 Auto Scaling groups."
    assert architecture.management_tools == "Amazon CloudWatch."
    assert architecture.complete_architecture == "A three-tier web platform on AWS."


def test_lowercase_markers_odd_spacing_bold_labels_and_compact_amounts():
    analysis = parse_fixture("lowercase_odd_spacing")

    assert analysis.validation_errors == ()
    assert analysis.predicted_arr_usd == 1_800_000
    assert analysis.predicted_mrr_usd == 135_000
    assert analysis.confidence is Confidence.MEDIUM
    assert analysis.confidence_score == 0  # absent: not invented, not an error
    assert analysis.top_services == (
        ServiceCost("Amazon EC2", 60_000, 100_000),
        ServiceCost("Amazon RDS", 40_000, 50_000),
        ServiceCost("Amazon S3", 20_000, 0),  # upfront part missing
        ServiceCost("AWS Lambda", 10_000, 30_000),
        ServiceCost("Other", 5_000, 0),
    )
    assert [p.project_name for p in analysis.similar_projects] == ["Alpha", "Beta", "Gamma"]
    assert analysis.architecture.network_foundation == "VPC"
    assert analysis.architecture.compute_layer == "containers on Amazon ECS"
    assert analysis.architecture.data_layer == "Aurora"


def test_missing_sections_become_errors_and_nothing_is_invented():
    analysis = parse_fixture("missing_sections")

    for section in (
        "PREDICTION RATIONALE",
        "RISK FACTORS",
        "ARCHITECTURE DESCRIPTION",
        "SUMMARY METRICS",
    ):
        assert f"{section} section is missing" in analysis.validation_errors
    for field in ("PREDICTED_ARR", "MRR", "LAUNCH_DATE", "TOP_SERVICES", "CONFIDENCE"):
        assert errors_mentioning(analysis, f"{field} is missing"), field
    assert errors_mentioning(analysis, "PREDICTED_PROJECT_DURATION is missing")
    assert not errors_mentioning(analysis, "ANALYSIS METHODOLOGY")
    assert not errors_mentioning(analysis, "VALIDATION")  # that section is optional
    assert (analysis.predicted_arr_usd, analysis.predicted_mrr_usd) == (0, 0)
    assert analysis.launch_date == ""
    assert analysis.project_duration_months == 0
    assert analysis.top_services == ()
    assert analysis.confidence is Confidence.UNSPECIFIED


def test_each_missing_summary_field_is_named():
    analysis = parse_fixture("missing_fields")

    assert analysis.validation_errors == (
        "LAUNCH_DATE is missing from SUMMARY METRICS",
        "PREDICTED_PROJECT_DURATION is missing from SUMMARY METRICS",
        "CONFIDENCE is missing from SUMMARY METRICS",
    )
    assert analysis.predicted_arr_usd == 120_000
    assert analysis.top_services == (ServiceCost("AWS Lambda", 10_000, 0),)


def test_similar_project_mrr_before_the_summary_is_never_the_prediction():
    analysis = parse_fixture("similar_mrr_before_summary")

    assert analysis.predicted_mrr_usd == 0
    assert analysis.predicted_arr_usd == 0
    assert "MRR is missing from SUMMARY METRICS" in analysis.validation_errors
    assert "PREDICTED_ARR is missing from SUMMARY METRICS" in analysis.validation_errors
    assert analysis.similar_projects[0].total_mrr_usd == 50_000
    assert analysis.launch_date == "2026-01"


def test_malformed_numbers_are_reported_not_guessed():
    analysis = parse_fixture("malformed_numbers")

    expected = [
        "PREDICTED_ARR is not a dollar amount: 'about two million'",
        "MRR is not a dollar amount: '$100K - $150K'",
        "LAUNCH_DATE is not a YYYY-MM month: 'Q3 2026'",
        "PREDICTED_PROJECT_DURATION is not a number of months: '6-9 months'",
        "TOP_SERVICES line is not 'name|$monthly/month|$upfront upfront': "
        "'Amazon EC2|a lot/month|$0 upfront'",
        "CONFIDENCE is not HIGH, MEDIUM or LOW: 'fairly sure'",
        "CONFIDENCE_SCORE is not a number 0-100: 'very'",
    ]
    assert list(analysis.validation_errors) == expected  # "N/A" adds nothing
    assert (analysis.predicted_arr_usd, analysis.predicted_mrr_usd) == (0, 0)
    assert (analysis.launch_date, analysis.project_duration_months) == ("", 0)
    assert analysis.top_services == (ServiceCost("Amazon S3", 2_000, 0),)
    assert analysis.confidence is Confidence.UNSPECIFIED


def test_arr_inconsistent_with_mrr_and_too_few_projects():
    analysis = parse_fixture("arr_mrr_inconsistent")

    assert analysis.validation_errors == (
        "PREDICTED_ARR ($2,000,000) differs by more than 1% from MRR x 12 + upfront ($1,250,000)",
        "only 2 similar project(s) given; at least 3 are expected",
    )
    # The values are kept as written; the errors say they do not add up.
    assert analysis.predicted_arr_usd == 2_000_000
    assert analysis.confidence_score == 65


def test_model_validation_errors_are_kept_one_per_line():
    analysis = parse_fixture("model_validation_errors")

    assert analysis.validation_errors == (
        "Only 12 rows were returned by the query.",
        "Close dates in the data look inconsistent",
    )
    assert analysis.top_services == (ServiceCost("Amazon EC2", 20_000, 0),)  # OTHER: None


def test_empty_input_reports_everything_missing():
    analysis = parse_fixture("empty")

    assert analysis.validation_errors[0] == "the analysis text is empty"
    assert len(analysis.validation_errors) == 1 + 7 + 6 + 1  # sections, fields, projects
    assert analysis == Analysis(validation_errors=analysis.validation_errors)


def test_garbage_parses_to_an_empty_analysis_with_errors():
    text = (FIXTURES / "garbage.txt").read_text(encoding="utf-8")
    analysis = parse_analysis(text)

    assert analysis.predicted_mrr_usd == 0  # "MRR: $5" is outside any SUMMARY section
    assert analysis.predicted_arr_usd == 0
    assert "SUMMARY METRICS section is missing" in analysis.validation_errors
    assert analysis.full_text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,800,000", 1_800_000),
        ("1800000 USD", 1_800_000),
        ("USD 12,000", 12_000),
        ("$1.2M", 1_200_000),
        ("$350K", 350_000),
        ("$2.5 million", 2_500_000),
        ("$5,000/month", 5_000),
        ("$0 upfront", 0),
        ("$99.50", 100),
        ("about two million", None),
        ("$1M - $2M", None),
        ("$1,80,000", None),
        ("-$5", None),
        ("", None),
    ],
)
def test_parse_amount(text, expected):
    assert parse_amount(text) == expected


_FRAGMENTS = [
    "===SUMMARY METRICS===",
    "=== similar projects ===",
    "===ARCHITECTURE_DESCRIPTION===",
    "===VALIDATION_ERRORS===",
    "--- Project 1 ---",
    "PREDICTED_ARR: $",
    "MRR: 9" * 3,
    "TOP_SERVICES:",
    "OTHER_SERVICES: |||",
    "CONFIDENCE: ",
    "LAUNCH_DATE: 2026-13-45",
    "PREDICTED_PROJECT_DURATION: 0 months",
    "|$1,000/month|",
    "- Services:",
    "NETWORK_FOUNDATION:",
    "9" * 5000,
    "$1." + "9" * 40 + "M",
    "**",
    "\x00\ufeff\u2013",
    "\n",
    "\r\n",
    " ",
]


def test_random_garbled_input_never_raises():
    rng = random.Random(20240601)
    alphabet = "=-|$:,.0123456789 \nABCMRDEkmx*#()/"
    for _ in range(300):
        pieces = [rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 25))]
        pieces += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))]
        rng.shuffle(pieces)
        text = "".join(pieces)
        assert parse_analysis(text).full_text == text


def test_mutilated_valid_answers_never_raise():
    rng = random.Random(7)
    lines = (FIXTURES / "markers_with_spaces.txt").read_text(encoding="utf-8").splitlines()
    for _ in range(200):
        kept = [line for line in lines if rng.random() > 0.3]
        rng.shuffle(kept)
        cut = [line[: rng.randint(0, len(line))] for line in kept]
        parse_analysis("\n".join(cut))


def test_long_whitespace_runs_parse_quickly():
    spaces = " " * 50_000
    text = (
        f"== a{spaces}x\n===ARCHITECTURE DESCRIPTION===\nNETWORK_FOUNDATION: a{spaces}b\n"
        f"===SUMMARY METRICS===\nMRR: $ {spaces}5\nTOP_SERVICES:\nx{spaces}|{spaces}$5\n"
    )
    started = time.perf_counter()
    parse_analysis(text)
    assert time.perf_counter() - started < 2.0
