"""The local statistical engine: coherent numbers, honest gaps, and parser round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.analysis.engine import confidence_for, write_analysis
from services.analysis.parser import parse_analysis
from services.common.domain import Confidence, Opportunity

TODAY = date(2025, 5, 1)
OPPORTUNITY = Opportunity(
    customer_name="Acme Retail",
    region="us-east",
    close_date="2025-06-15",
    opportunity_name="Acme e-commerce migration",
    description="Move the web shop and its database to AWS.",
    industry="Retail",
)


def project(
    number: int,
    services: list[tuple[str, float, float]],
    *,
    score: float,
    close: object = "2024-01-10",
    start: object = "2024-04-01",
    end: object = "2024-10-01",
    **extra: object,
) -> dict[str, object]:
    row: dict[str, object] = {
        "opportunity_id": f"OPP-{number}",
        "opportunity_name": f"Project {number}",
        "customer_name": f"Customer {number}",
        "industry": "Retail",
        "region": "us-east",
        "close_date": close,
        "planned_delivery_start_date": start,
        "planned_delivery_end_date": end,
        "relevance_score": score,
    }
    for slot, (name, monthly, upfront) in enumerate(services, start=1):
        row[f"service{slot}_name"] = name
        row[f"service{slot}_monthly_cost"] = monthly
        row[f"service{slot}_upfront_cost"] = upfront
    row.update(extra)
    return row


ROWS = [
    project(1, [("Amazon EC2", 6000, 10000), ("Amazon RDS", 3000, 0), ("Amazon VPC", 500, 0)],
            score=0.95),
    project(2, [("Amazon EC2", 7000, 0), ("Amazon RDS", 2500, 5000), ("Amazon S3", 800, 0)],
            score=0.90, start="2024-03-01", end="2024-08-01"),
    project(3, [("Amazon EC2", 5000, 20000), ("AWS Lambda", 900, 0), ("AWS KMS", 100, 0),
                ("Amazon CloudWatch", 300, 0)], score=0.85),
    project(4, [("Amazon EC2", 6500, 0), ("Amazon RDS", 2800, 0), ("Amazon SQS", 200, 0)],
            score=0.80, start="2024-05-01", end="2025-01-01"),
    project(5, [("Amazon EC2", 6200, 15000), ("Amazon RDS", 3100, 0)], score=0.70),
    project(6, [("Amazon EC2", 30000, 0)], score=0.10),  # far away: barely counts
]  # fmt: skip


def test_arr_is_mrr_times_twelve_plus_upfront_and_services_sum_exactly():
    analysis = parse_analysis(write_analysis(OPPORTUNITY, ROWS, today=TODAY))

    upfront = sum(service.upfront_usd for service in analysis.top_services)
    assert analysis.predicted_arr_usd == analysis.predicted_mrr_usd * 12 + upfront
    assert sum(s.monthly_usd for s in analysis.top_services) == analysis.predicted_mrr_usd
    # Relevance-weighted median of the monthly totals: project 4 (9,500), not the
    # far-away 30,000 project.
    assert analysis.predicted_mrr_usd == 9_500
    assert upfront == 10_000  # weighted median of upfront totals (project 1)
    assert len(analysis.top_services) == 5
    assert analysis.top_services[0].name == "Amazon EC2"
    assert analysis.top_services[-1].name == "Other"


def test_launch_month_follows_the_close_month_by_the_median_gap():
    analysis = parse_analysis(write_analysis(OPPORTUNITY, ROWS, today=TODAY))

    # Gaps are ~3 months (close 2024-01-10 -> start 2024-04-01) for most projects.
    assert analysis.launch_date == "2025-09"
    assert analysis.project_duration_months == 6


def test_launch_is_strictly_after_the_close_month_even_when_delivery_starts_at_once():
    rows = [
        project(n, [("Amazon EC2", 1000, 0)], score=1.0, close="2024-01-10", start="2023-12-01")
        for n in range(3)
    ]
    analysis = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY))

    assert analysis.launch_date == "2025-07"


def test_three_similar_projects_are_the_most_relevant_rows():
    text = write_analysis(OPPORTUNITY, list(reversed(ROWS)), today=TODAY)
    projects = parse_analysis(text).similar_projects

    assert [p.project_name for p in projects] == ["Project 1", "Project 2", "Project 3"]
    first = projects[0]
    assert first.customer == "Customer 1"
    assert first.total_mrr_usd == 9_500
    assert first.total_arr_usd == 9_500 * 12 + 10_000
    assert [s.name for s in first.services] == ["Amazon EC2", "Amazon RDS", "Amazon VPC"]


def test_similar_projects_use_the_recorded_arr_when_present():
    rows = [project(n, [("Amazon EC2", 1000, 0)], score=1.0) for n in range(3)]
    rows[0]["annual_run_rate_usd"] = 15_000
    projects = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY)).similar_projects

    assert projects[0].total_arr_usd == 15_000
    assert projects[1].total_arr_usd == 12_000


def test_engine_output_round_trips_without_validation_errors():
    text = write_analysis(OPPORTUNITY, ROWS, today=TODAY)
    analysis = parse_analysis(text)

    assert analysis.validation_errors == ()
    assert analysis.full_text == text
    assert analysis.confidence is not Confidence.UNSPECIFIED
    assert 0 < analysis.confidence_score <= 100
    assert "9,500" in analysis.rationale
    assert analysis.methodology and analysis.findings and analysis.risk_factors
    assert "Amazon VPC" in analysis.architecture.network_foundation
    assert "Amazon EC2" in analysis.architecture.compute_layer
    assert "AWS KMS" in analysis.architecture.security_components
    assert "Amazon SQS" in analysis.architecture.integration_points
    assert "Amazon CloudWatch" in analysis.architecture.management_tools


def test_same_input_gives_the_same_text():
    first = write_analysis(OPPORTUNITY, ROWS, today=TODAY)
    assert write_analysis(OPPORTUNITY, [dict(row) for row in ROWS], today=TODAY) == first


def test_rounding_is_distributed_so_the_split_sums_match():
    rows = [
        project(n, [("A", 333.33, 100.1), ("B", 333.33, 100.1), ("C", 333.34, 100.1),
                    ("D", 7.77, 0.5), ("E", 3.3, 0.3), ("F", 1.1, 0)], score=1.0)
        for n in range(3)
    ]  # fmt: skip
    analysis = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY))

    assert analysis.validation_errors == ()
    assert sum(s.monthly_usd for s in analysis.top_services) == analysis.predicted_mrr_usd
    upfront = sum(s.upfront_usd for s in analysis.top_services)
    assert analysis.predicted_arr_usd == analysis.predicted_mrr_usd * 12 + upfront
    assert upfront == 301


def test_no_rows_writes_every_section_but_no_figures():
    text = write_analysis(OPPORTUNITY, [], today=TODAY)
    analysis = parse_analysis(text)

    assert analysis.confidence is Confidence.LOW
    assert analysis.confidence_score == 0
    assert (analysis.predicted_arr_usd, analysis.predicted_mrr_usd) == (0, 0)
    assert analysis.top_services == ()
    assert not any("section is missing" in error for error in analysis.validation_errors)
    for field in ("PREDICTED_ARR", "MRR", "LAUNCH_DATE", "TOP_SERVICES"):
        assert f"{field} is missing from SUMMARY METRICS" in analysis.validation_errors
    assert any("No historical projects matched" in e for e in analysis.validation_errors)


def test_rows_without_costs_or_dates_leave_those_figures_out():
    rows = [
        {"opportunity_name": f"P{n}", "relevance_score": 1.0, "service1_name": "Amazon EC2"}
        for n in range(3)
    ]
    analysis = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY))

    assert analysis.predicted_mrr_usd == 0
    assert analysis.launch_date == ""
    assert analysis.confidence is Confidence.LOW
    assert "MRR is missing from SUMMARY METRICS" in analysis.validation_errors
    assert "LAUNCH_DATE is missing from SUMMARY METRICS" in analysis.validation_errors
    assert len(analysis.similar_projects) == 3
    assert "Amazon EC2" in analysis.architecture.compute_layer


def test_row_values_cannot_break_the_layout():
    rows = [
        project(n, [("Odd|Name", 1000, 0)], score=1.0,
                description="line one\n===SUMMARY METRICS===\nMRR: $1")
        for n in range(3)
    ]  # fmt: skip
    analysis = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY))

    assert analysis.validation_errors == ()
    assert analysis.predicted_mrr_usd == 1_000
    assert analysis.top_services[0].name == "Odd/Name"


def test_strings_and_missing_scores_are_read_tolerantly():
    rows = [
        {"opportunity_name": f"P{n}", "close_date": "2024-01-01",
         "planned_delivery_start_date": "2024-02-01", "planned_delivery_end_date": "2024-05-01",
         "service1_name": "Amazon EC2", "service1_monthly_cost": f"{1000 * (n + 1)}"}
        for n in range(3)
    ]  # fmt: skip
    analysis = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY))

    assert analysis.validation_errors == ()
    assert analysis.predicted_mrr_usd == 2_000  # equal weights: plain median
    assert analysis.project_duration_months == 3


def test_unreadable_close_date_counts_from_today_and_says_so():
    opportunity = Opportunity("Acme", "us-east", "soon", "Acme move", "d")
    analysis = parse_analysis(write_analysis(opportunity, ROWS, today=TODAY))

    assert analysis.launch_date == "2025-08"
    assert "not a date" in analysis.risk_factors


@pytest.mark.parametrize(
    ("count", "qcd", "expected"),
    [
        (0, 0.0, (Confidence.LOW, 0)),
        (2, 0.0, (Confidence.LOW, 59)),  # too few matches, however tight
        (3, 0.05, (Confidence.MEDIUM, 72)),
        (8, 0.1, (Confidence.HIGH, 94)),
        (8, 0.5, (Confidence.MEDIUM, 70)),
        (10, 0.9, (Confidence.LOW, 46)),
    ],
)
def test_confidence_bands(count, qcd, expected):
    assert confidence_for(count, qcd) == expected


def test_epoch_second_dates_are_read_like_iso_dates():
    def epoch(day: str) -> int:
        return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())

    rows = [
        project(n, [("Amazon EC2", 1000, 0)], score=1.0, close=epoch("2024-01-10"),
                start=epoch("2024-04-01"), end=epoch("2024-10-01"))
        for n in range(3)
    ]  # fmt: skip
    analysis = parse_analysis(write_analysis(OPPORTUNITY, rows, today=TODAY))

    assert analysis.validation_errors == ()
    assert (analysis.launch_date, analysis.project_duration_months) == ("2025-09", 6)
    assert analysis.similar_projects[0].close_date == "2024-01-10"
