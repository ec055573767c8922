"""The generated historical-projects table: deterministic, coherent, written safely."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.analysis import dataset
from services.analysis.dataset import COLUMNS, COUNTRY_GEO, DATE_COLUMNS, SERVICE_SLOTS

ROWS = 2_000


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    table: Any = dataset.generate_rows(ROWS, seed=11)
    return list(table.to_pylist())


def services_of(row: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    return [
        (row[f"service{i}_name"], row[f"service{i}_monthly_cost"], row[f"service{i}_upfront_cost"])
        for i in range(1, SERVICE_SLOTS + 1)
    ]


def test_same_seed_gives_identical_table() -> None:
    assert dataset.generate_rows(300, seed=5).equals(dataset.generate_rows(300, seed=5))


def test_different_seed_gives_different_table() -> None:
    assert not dataset.generate_rows(300, seed=5).equals(dataset.generate_rows(300, seed=6))


def test_columns_and_types_match_the_contract() -> None:
    table = dataset.generate_rows(10, seed=1)
    assert tuple(table.column_names) == COLUMNS
    assert len(COLUMNS) == 17 + 3 * SERVICE_SLOTS
    for field in table.schema:
        if field.name in DATE_COLUMNS:
            assert field.type == pa.int64()
        elif field.name == "annual_run_rate_usd" or field.name.endswith("_cost"):
            assert field.type == pa.float64()
        else:
            assert field.type == pa.string()


def test_rejects_non_positive_count() -> None:
    with pytest.raises(ValueError):
        dataset.generate_rows(0, seed=1)


def test_ids_are_unique_and_formatted(rows: list[dict[str, Any]]) -> None:
    ids = [row["opportunity_id"] for row in rows]
    assert len(set(ids)) == ROWS
    assert ids[0] == "OPP-000001"


def test_annual_run_rate_is_twelve_months_plus_upfront(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        used = [(m, u) for name, m, u in services_of(row) if name is not None]
        expected = sum(12 * float(m) + float(u) for m, u in used)
        assert row["annual_run_rate_usd"] == expected
        assert float(row["annual_run_rate_usd"]).is_integer()


def test_services_fill_slots_in_order_largest_first(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        slots = services_of(row)
        used = [s for s in slots if s[0] is not None]
        assert used, "every project uses at least one service"
        assert slots[: len(used)] == used, "no gaps between used slots"
        assert all(s == (None, None, None) for s in slots[len(used) :])
        monthly = [float(m) for _, m, _ in used]
        assert monthly == sorted(monthly, reverse=True)
        assert all(m >= 1 and m.is_integer() for m in monthly)
        assert len({name for name, _, _ in used}) == len(used)


def test_dates_are_utc_midnights_in_order_and_range(rows: list[dict[str, Any]]) -> None:
    first, last = 1546300800, 1767139200  # 2019-01-01 and 2025-12-31
    for row in rows:
        close, start, end = (int(row[c]) for c in DATE_COLUMNS)
        assert first <= close <= last
        assert close < start < end
        assert close % 86_400 == start % 86_400 == end % 86_400 == 0


def test_geography_is_consistent(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        geo = COUNTRY_GEO[str(row["country"])]
        assert row["region"] == geo.region
        assert row["sub_region"] in geo.sub_regions
    regions = {row["region"] for row in rows}
    assert regions == {g.region for g in COUNTRY_GEO.values()}


def test_customers_keep_their_attributes(rows: list[dict[str, Any]]) -> None:
    seen: dict[str, tuple[str, ...]] = {}
    for row in rows:
        attributes = (row["industry"], row["customer_segment"], row["country"])
        assert seen.setdefault(row["customer_name"], attributes) == attributes
    assert len(seen) < ROWS / 2, "customers run several projects"


def test_enterprise_projects_are_larger_than_smb(rows: list[dict[str, Any]]) -> None:
    def median_arr(segment: str) -> float:
        values = [r["annual_run_rate_usd"] for r in rows if r["customer_segment"] == segment]
        return float(statistics.median(values))

    assert median_arr("Enterprise") > 4 * median_arr("SMB")


def test_activity_drives_the_service_mix(rows: list[dict[str, Any]]) -> None:
    primary = {
        "Generative AI": "Amazon Bedrock",
        "Contact Center": "Amazon Connect",
        "Machine Learning": "Amazon SageMaker",
        "IoT": "AWS IoT Core",
    }
    for row in rows:
        expected = primary.get(str(row["activity_name"]))
        if expected is not None:
            assert expected in {name for name, _, _ in services_of(row)}


def test_industry_favours_its_activities(rows: list[dict[str, Any]]) -> None:
    manufacturing = [r["activity_name"] for r in rows if r["industry"] == "Manufacturing"]
    software = [r["activity_name"] for r in rows if r["industry"] == "Software & Internet"]
    assert manufacturing.count("SAP on AWS") / len(manufacturing) > 0.1
    assert software.count("SAP on AWS") / len(software) < 0.03


def test_descriptions_are_varied_and_name_technologies(rows: list[dict[str, Any]]) -> None:
    descriptions = [str(r["description"]) for r in rows]
    assert len(set(descriptions)) > 0.95 * ROWS
    corpus = " ".join(descriptions).lower()
    for keyword in (
        "oracle", "sap", "mainframe", "kubernetes", "data lake", "machine learning",
        "generative ai", "call center", "erp", "e-commerce", "hpc", "vmware", "windows",
        "sql server",
    ):  # fmt: skip
        assert keyword in corpus, keyword


def test_migration_phase_only_on_migration_style_work(rows: list[dict[str, Any]]) -> None:
    phases = {r["migration_phase"] for r in rows}
    assert phases == {"", "Assess", "Mobilize", "Migrate", "Modernize"}
    for row in rows:
        if row["activity_name"] in ("Generative AI", "Serverless", "Contact Center"):
            assert row["migration_phase"] == ""


def test_thirty_thousand_rows_generate_quickly() -> None:
    started = time.perf_counter()
    table = dataset.generate_rows(30_000, seed=20240601)
    assert table.num_rows == 30_000
    assert time.perf_counter() - started < 10


def test_ensure_dataset_writes_once_with_version_metadata(tmp_path: Path) -> None:
    path = tmp_path / "data" / "projects.parquet"
    assert dataset.ensure_dataset(path, rows=200, seed=3) == path
    metadata = pq.read_schema(path).metadata
    assert metadata[b"oppsuite.dataset_version"] == dataset.DATASET_VERSION.encode()
    assert pq.read_table(path).num_rows == 200
    before = path.stat()
    dataset.ensure_dataset(path, rows=200, seed=3)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_ensure_dataset_replaces_a_stale_version(tmp_path: Path) -> None:
    path = tmp_path / "projects.parquet"
    stale = dataset.generate_rows(50, seed=3)
    pq.write_table(stale.replace_schema_metadata({b"oppsuite.dataset_version": b"old"}), path)
    dataset.ensure_dataset(path, rows=200, seed=3)
    assert pq.read_table(path).num_rows == 200
    assert pq.read_schema(path).metadata[b"oppsuite.dataset_version"] != b"old"


def test_ensure_dataset_replaces_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "projects.parquet"
    path.write_bytes(b"not parquet at all")
    dataset.ensure_dataset(path, rows=100, seed=3)
    assert pq.read_table(path).equals(
        dataset.generate_rows(100, seed=3).replace_schema_metadata(pq.read_schema(path).metadata)
    )


def test_concurrent_ensure_calls_leave_one_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "projects.parquet"
    errors: list[BaseException] = []

    def ensure() -> None:
        try:
            dataset.ensure_dataset(path, rows=500, seed=9)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert pq.read_table(path).num_rows == 500
    assert [p.name for p in tmp_path.iterdir()] == ["projects.parquet"], "no temp files left"
