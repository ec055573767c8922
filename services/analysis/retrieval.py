"""Runs guarded Presto SQL on DuckDB over the local Parquet dataset.

The Parquet file is a view named like the Athena table, reachable both bare
(``parquet``) and qualified (``catapult_db_p.parquet``). The engine may read that one
file and nothing else: external access is off and the configuration locked, a second
line of defence behind the SQL guard.

One connection serves every caller; each ``run`` takes its own cursor, which DuckDB
allows from any thread, so ``asyncio.to_thread`` callers may run concurrently.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import sqlglot
from sqlglot.errors import SqlglotError

from services.analysis.dataset import COST_COLUMNS, DATE_COLUMNS
from services.analysis.errors import QueryFailed

__all__ = ["DuckDbRetriever", "compact_row", "text_row_compactor"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATE_COLUMNS = frozenset(DATE_COLUMNS)
_NUMERIC_COLUMNS = frozenset((*COST_COLUMNS, "relevance_score"))
_PARSED_COLUMNS = _DATE_COLUMNS | _NUMERIC_COLUMNS  # text in these is read as a number
_DAY_S = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Days from year 1000 to 9999: there isoformat() and strftime("%Y-%m-%d") agree.
_FAST_DAYS = range(
    (date(1000, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY_S,
    (date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * _DAY_S,
)


def _epoch_to_day(seconds: float) -> str:
    whole = int(seconds)
    if whole in _FAST_DAYS:
        # The UTC day by arithmetic: a quarter of fromtimestamp() + strftime()'s cost,
        # which ran for every date of every row.
        return date.fromordinal(_EPOCH_ORDINAL + whole // _DAY_S).isoformat()
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%d")


def _number(value: float | int | Decimal) -> int | float | None:
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


# Engines that return text (Athena) give numbers as strings; these read them back.
def _read_number(convert: Callable[[float], object], text: str) -> object:
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text  # already a formatted date, or not a number at all
    return convert(number)


def _day(epoch: float) -> str | None:
    return _epoch_to_day(epoch) if math.isfinite(epoch) else None


# Bound positionally: a keyword bound by partial costs a dict merge on every call.
_date_text = functools.partial(_read_number, _day)
_number_text = functools.partial(_read_number, _number)


def _plain_text(text: str) -> str | None:
    return text.strip() or None


_TEXT_PARSERS: dict[str, Callable[[str], object]] = {
    **dict.fromkeys(_NUMERIC_COLUMNS, _number_text),
    **dict.fromkeys(_DATE_COLUMNS, _date_text),  # a date column is never read as a number
}


def _compact_text(column: str, text: str) -> object:
    return _TEXT_PARSERS.get(column, _plain_text)(text)


def _compact_value(column: str, value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _compact_text(column, value)
    if isinstance(value, int | float | Decimal):
        number = _number(value)
        if number is not None and column in _DATE_COLUMNS:
            return _epoch_to_day(number)
        return number
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if column in _DATE_COLUMNS else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def compact_row(row: Mapping[str, object]) -> dict[str, object]:
    """Only non-null, non-empty values; epoch dates as YYYY-MM-DD; integral numbers as int."""
    compact: dict[str, object] = {}
    for column, value in row.items():
        if value.__class__ is str and column not in _PARSED_COLUMNS:
            # Most of a row (names, descriptions): what _compact_text would do, inline.
            cleaned: object = value.strip() or None
        else:
            cleaned = _compact_value(column, value)
        if cleaned is not None:
            compact[column] = cleaned
    return compact


def text_row_compactor(
    columns: Sequence[str],
) -> Callable[[Sequence[object]], dict[str, object]]:
    """``compact_row(dict(zip(columns, values)))`` for rows of one result set.

    Faster for engines that answer in text (Athena): how each column's text is read is
    decided once per result set instead of once per cell.
    """
    if len(set(columns)) != len(columns):
        # A repeated name keeps its last value in a dict: leave that to compact_row.
        return lambda values: compact_row(dict(zip(columns, values, strict=False)))
    parsers = [_TEXT_PARSERS.get(column, _plain_text) for column in columns]

    def compact(values: Sequence[object]) -> dict[str, object]:
        row: dict[str, object] = {}
        for column, parse, value in zip(columns, parsers, values, strict=False):
            cleaned = parse(value) if isinstance(value, str) else _compact_value(column, value)
            if cleaned is not None:
                row[column] = cleaned
        return row

    return compact


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckDbRetriever:
    def __init__(
        self, parquet_path: Path, table: str = "parquet", database: str = "catapult_db_p"
    ) -> None:
        for kind, name in (("table", table), ("database", database)):
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"{kind} must be a plain identifier, got {name!r}")
        path = str(parquet_path.resolve())
        self._lock = threading.Lock()
        self._closed = False
        self._connection = duckdb.connect(":memory:")
        try:
            self._setup(path, table, database)
        except duckdb.Error:
            self._connection.close()
            raise

    def _setup(self, path: str, table: str, database: str) -> None:
        run = self._connection.execute
        run("SET allowed_paths = $1", [[path]])
        run("SET enable_external_access = false")
        run("SET lock_configuration = true")
        run(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        run(
            f'CREATE VIEW "{database}"."{table}" AS SELECT * FROM read_parquet({_sql_string(path)})'
        )
        if database != "main":
            run(f'CREATE VIEW main."{table}" AS SELECT * FROM "{database}"."{table}"')

    @staticmethod
    def _to_duckdb(presto_sql: str) -> str:
        try:
            statements = sqlglot.transpile(presto_sql, read="presto", write="duckdb")
        except SqlglotError as exc:
            raise QueryFailed(f"query could not be translated for DuckDB: {exc}") from None
        if len(statements) != 1:
            raise QueryFailed(f"expected one statement, got {len(statements)}")
        return statements[0]

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._closed:
                raise QueryFailed("the retriever is closed")
            return self._connection.cursor()

    def run(self, presto_sql: str) -> list[dict[str, object]]:
        """Execute guarded Presto SQL; rows in query order, each compacted."""
        duck_sql = self._to_duckdb(presto_sql)
        cursor = self._cursor()
        try:
            cursor.execute(duck_sql)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            records = cursor.fetchall()
        except duckdb.Error as exc:
            raise QueryFailed(f"query failed: {exc}") from exc
        finally:
            cursor.close()
        return [compact_row(dict(zip(names, record, strict=True))) for record in records]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()
