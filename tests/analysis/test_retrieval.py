"""DuckDB retrieval over a generated dataset: querygen → guard → run, end to end."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.analysis import dataset
from services.analysis.errors import QueryFailed
from services.analysis.querygen import generate_sql
from services.analysis.retrieval import DuckDbRetriever, compact_row, text_row_compactor
from services.analysis.sqlguard import guard_sql
from services.common.domain import Opportunity

ROWS = 2_000
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
BANK = Opportunity(
    customer_name="Acme Bank",
    region="us-east-1",
    close_date="2025-03-01",
    opportunity_name="Core banking migration",
    description="Migrate on-prem Oracle databases to Amazon Aurora and build a data lake.",
    industry="Financial Services",
    customer_segment="Enterprise",
    activity_focus="Migration",
)


@pytest.fixture(scope="module")
def parquet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dataset") / "projects.parquet"
    return dataset.ensure_dataset(path, rows=ROWS, seed=42)


@pytest.fixture(scope="module")
def retriever(parquet_path: Path) -> Iterator[DuckDbRetriever]:
    retriever = DuckDbRetriever(parquet_path)
    yield retriever
    retriever.close()


def pipeline(
    retriever: DuckDbRetriever, opportunity: Opportunity, limit: int
) -> list[dict[str, object]]:
    sql = guard_sql(generate_sql(opportunity, limit), allowed_tables={"parquet"}, row_limit=limit)
    return retriever.run(sql)


def test_end_to_end_rows_are_compact_ranked_and_limited(retriever: DuckDbRetriever) -> None:
    rows = pipeline(retriever, BANK, 50)
    assert len(rows) == 50
    scores: list[Any] = [row["relevance_score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(score, int) and score > 0 for score in scores)
    for row in rows:
        assert all(value is not None and value != "" for value in row.values())
        assert set(row) <= {*dataset.COLUMNS, "relevance_score"}
        for column in dataset.DATE_COLUMNS:
            assert DAY.fullmatch(str(row[column]))
        assert isinstance(row["annual_run_rate_usd"], int)
        assert isinstance(row["service1_monthly_cost"], int)


def test_end_to_end_ranks_matching_projects_first(retriever: DuckDbRetriever) -> None:
    top = pipeline(retriever, BANK, 20)
    assert all(row["industry"] == "Financial Services" for row in top[:5])
    assert sum(row["industry"] == "Financial Services" for row in top) >= 15
    assert sum(row["activity_name"] == "Migration" for row in top) >= 15


def test_compact_rows_omit_empty_partner_and_unused_services(retriever: DuckDbRetriever) -> None:
    rows = pipeline(retriever, BANK, 200)
    assert any("partner_name" not in row for row in rows)
    assert any("service10_name" not in row for row in rows)
    for row in rows:
        used = [i for i in range(1, 11) if f"service{i}_name" in row]
        for i in used:
            assert f"service{i}_monthly_cost" in row and f"service{i}_upfront_cost" in row
        assert all(f"service{i}_monthly_cost" not in row for i in range(len(used) + 1, 11))


def test_limit_caps_the_result(retriever: DuckDbRetriever) -> None:
    assert len(pipeline(retriever, BANK, 7)) == 7


def test_opportunity_with_nothing_to_match_still_returns_rows(retriever: DuckDbRetriever) -> None:
    bare = Opportunity("X", "", "", "the", "and")
    rows = pipeline(retriever, bare, 10)
    assert len(rows) == 10
    assert {row["relevance_score"] for row in rows} == {1}
    dates: list[Any] = [row["close_date"] for row in rows]
    assert dates == sorted(dates, reverse=True)


def test_bare_and_qualified_table_names_both_work(retriever: DuckDbRetriever) -> None:
    bare = retriever.run("SELECT count(*) AS n FROM parquet")
    qualified = retriever.run("SELECT count(*) AS n FROM catapult_db_p.parquet")
    assert bare == qualified == [{"n": ROWS}]


def test_presto_functions_are_translated(retriever: DuckDbRetriever) -> None:
    rows = retriever.run(
        "SELECT date_format(from_unixtime(close_date), '%Y') AS y FROM parquet "
        "ORDER BY close_date LIMIT 1"
    )
    assert rows == [{"y": "2019"}]


def test_custom_table_and_database_names(parquet_path: Path) -> None:
    retriever = DuckDbRetriever(parquet_path, table="projects", database="history")
    try:
        assert retriever.run("SELECT count(*) AS n FROM history.projects") == [{"n": ROWS}]
        assert retriever.run("SELECT count(*) AS n FROM projects") == [{"n": ROWS}]
    finally:
        retriever.close()


@pytest.mark.parametrize(("table", "database"), [("x; DROP", "db"), ("t", "a.b"), ("", "db")])
def test_names_must_be_identifiers(parquet_path: Path, table: str, database: str) -> None:
    with pytest.raises(ValueError):
        DuckDbRetriever(parquet_path, table=table, database=database)


def test_engine_error_becomes_query_failed(retriever: DuckDbRetriever) -> None:
    with pytest.raises(QueryFailed) as caught:
        retriever.run("SELECT no_such_column FROM parquet")
    assert caught.value.step == "data_retrieval"
    assert "no_such_column" in str(caught.value)


def test_untranslatable_sql_becomes_query_failed(retriever: DuckDbRetriever) -> None:
    with pytest.raises(QueryFailed):
        retriever.run("SELECT * FROM parquet WHERE (")


def test_engine_cannot_read_other_files(retriever: DuckDbRetriever, tmp_path: Path) -> None:
    # Defence in depth: even SQL that skipped the guard cannot reach the file system.
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(QueryFailed):
        retriever.run(f"SELECT * FROM read_csv('{other.as_posix()}')")


def test_concurrent_runs_from_threads_agree(retriever: DuckDbRetriever) -> None:
    sql = guard_sql(generate_sql(BANK, 30), allowed_tables={"parquet"}, row_limit=30)
    expected = retriever.run(sql)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: retriever.run(sql), range(24)))
    assert all(result == expected for result in results)


async def test_concurrent_runs_via_to_thread(retriever: DuckDbRetriever) -> None:
    sql = guard_sql(generate_sql(BANK, 10), allowed_tables={"parquet"}, row_limit=10)
    results = await asyncio.gather(*(asyncio.to_thread(retriever.run, sql) for _ in range(12)))
    assert len({repr(result) for result in results}) == 1


def test_run_after_close_fails_and_close_is_idempotent(parquet_path: Path) -> None:
    retriever = DuckDbRetriever(parquet_path)
    retriever.close()
    retriever.close()
    with pytest.raises(QueryFailed):
        retriever.run("SELECT 1 AS x")


def test_compact_row_drops_empty_values_and_normalises_types() -> None:
    row = {
        "opportunity_id": "OPP-000001",
        "partner_name": "",
        "migration_phase": "   ",
        "service2_name": None,
        "close_date": 1735689600,
        "planned_delivery_start_date": 1735689600.0,
        "annual_run_rate_usd": 1200.0,
        "service1_monthly_cost": 99.5,
        "relevance_score": Decimal("12"),
        "service1_upfront_cost": 0.0,
        "ratio": float("nan"),
    }
    assert compact_row(row) == {
        "opportunity_id": "OPP-000001",
        "close_date": "2025-01-01",
        "planned_delivery_start_date": "2025-01-01",
        "annual_run_rate_usd": 1200,
        "service1_monthly_cost": 99.5,
        "relevance_score": 12,
        "service1_upfront_cost": 0,
    }


def test_compact_row_reads_text_results_like_athena_returns() -> None:
    row = {
        "close_date": "1735689600",
        "planned_delivery_end_date": "2025-06-30",
        "annual_run_rate_usd": "1200.0",
        "service1_monthly_cost": "99.5",
        "relevance_score": "7",
        "customer_name": "  Acme  ",
        "opportunity_name": "123",
    }
    assert compact_row(row) == {
        "close_date": "2025-01-01",
        "planned_delivery_end_date": "2025-06-30",
        "annual_run_rate_usd": 1200,
        "service1_monthly_cost": 99.5,
        "relevance_score": 7,
        "customer_name": "Acme",
        "opportunity_name": "123",
    }


@pytest.mark.parametrize(
    "columns",
    [
        ["close_date", "annual_run_rate_usd", "relevance_score", "customer_name"],
        ["planned_delivery_end_date", "service1_monthly_cost", "opportunity_name"],
        ["customer_name", "close_date", "customer_name"],  # a repeated name keeps its last
        [],
    ],
)
def test_text_row_compactor_matches_compact_row(columns: list[str]) -> None:
    cells: list[object] = [
        "1735689600",
        " 2025-06-30 ",
        "1200.0",
        "99.5",
        "nan",
        "1e400",
        "",
        "   ",
        " Acme ",
        "abc",
        None,
        7,
        1.5,
        Decimal("12"),
        True,
    ]
    compact = text_row_compactor(columns)
    for start in range(len(cells)):
        values = (cells[start:] + cells[:start])[: len(columns) + start % 2]  # short and long rows
        expected = compact_row(dict(zip(columns, values, strict=False)))
        assert compact(values) == expected
        assert [type(v) for v in compact(values).values()] == [type(v) for v in expected.values()]
