"""The SQL guard: one named case per rule, plus the querygen output always passing."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from services.analysis.errors import SqlRejected
from services.analysis.querygen import generate_sql
from services.analysis.sqlguard import guard_sql
from services.common.domain import Opportunity
from services.common.errors import StepFailed

ALLOWED = {"parquet"}


def guard(sql: str, row_limit: int = 100) -> str:
    return guard_sql(sql, allowed_tables=ALLOWED, row_limit=row_limit)


def guard_tree(sql: str, row_limit: int = 100) -> str:
    return guard_sql(sql, allowed_tables=ALLOWED, row_limit=row_limit, fast_path=False)


def rejected(sql: str) -> str:
    with pytest.raises(SqlRejected) as caught:
        guard(sql)
    return str(caught.value)


def outer_limit(sql: str) -> int:
    root = sqlglot.parse_one(sql, read="presto")
    return int(root.args["limit"].expression.this)


# ---------------------------------------------------------------- accepted queries


def test_plain_select_gets_the_missing_limit() -> None:
    assert outer_limit(guard("SELECT customer_name FROM parquet")) == 100


def test_higher_limit_is_clamped() -> None:
    assert outer_limit(guard("SELECT * FROM parquet LIMIT 100000")) == 100


def test_lower_limit_is_kept() -> None:
    assert outer_limit(guard("SELECT * FROM parquet LIMIT 7")) == 7


def test_limit_all_counts_as_missing() -> None:
    assert outer_limit(guard("SELECT * FROM parquet LIMIT ALL")) == 100


def test_fetch_first_becomes_a_clamped_limit() -> None:
    assert outer_limit(guard("SELECT * FROM parquet FETCH FIRST 5000 ROWS ONLY")) == 100


def test_inner_limits_are_left_alone() -> None:
    sql = guard("SELECT * FROM (SELECT * FROM parquet LIMIT 5000) AS p")
    root = sqlglot.parse_one(sql, read="presto")
    assert outer_limit(sql) == 100
    subquery = root.find(exp.Subquery)
    assert subquery is not None
    assert subquery.this.args["limit"].expression.this == "5000"


def test_database_qualified_table_is_allowed() -> None:
    assert "catapult_db_p.parquet" in guard("SELECT * FROM catapult_db_p.parquet")


def test_quoted_and_mixed_case_table_is_allowed() -> None:
    guard('SELECT * FROM "PARQUET"')


def test_allowed_tables_may_be_qualified() -> None:
    sql = "SELECT * FROM catapult_db_p.parquet"
    guard_sql(sql, allowed_tables={"catapult_db_p.parquet"}, row_limit=10)


def test_cte_names_are_not_tables() -> None:
    guard("WITH scored AS (SELECT * FROM parquet) SELECT * FROM scored WHERE 1 = 1")


def test_self_join_of_allowed_table() -> None:
    guard(
        "SELECT a.industry FROM parquet a JOIN catapult_db_p.parquet b ON a.industry = b.industry"
    )


def test_union_of_allowed_tables_is_allowed_and_limited_as_a_whole() -> None:
    # Decision: set operations only read; every branch's tables pass the same check.
    sql = guard("SELECT industry FROM parquet UNION SELECT region FROM parquet LIMIT 1000")
    root = sqlglot.parse_one(sql, read="presto")
    assert isinstance(root, exp.Union)
    assert outer_limit(sql) == 100


def test_trailing_semicolon_is_one_statement() -> None:
    guard("SELECT * FROM parquet;")


def test_prose_comments_are_allowed_and_stripped() -> None:
    sql = guard("SELECT * FROM parquet -- rank the most similar projects first\n LIMIT 5")
    assert "--" not in sql and "rank" not in sql


def test_output_is_presto_that_reparses_identically() -> None:
    sql = guard("select lower(industry) as i from parquet where close_date > 0")
    assert guard(sql) == sql


def test_other_dialects_can_be_read() -> None:
    sql = guard_sql(
        "SELECT TOP 5 industry FROM parquet", allowed_tables=ALLOWED, row_limit=50, dialect="tsql"
    )
    assert outer_limit(sql) == 5


OPPORTUNITIES = [
    Opportunity("Acme Bank", "us-east-1", "2025-03-01", "Core banking", "Oracle to Aurora"),
    Opportunity("O'Brien; DROP TABLE parquet; --", "eu-west-1", "bad", "x' OR '1'='1", "/* */"),
    Opportunity("X", "", "", "the", "and"),
]


@pytest.mark.parametrize("opportunity", OPPORTUNITIES, ids=["plain", "hostile", "empty"])
@pytest.mark.parametrize("table", ["parquet", "catapult_db_p.parquet"])
def test_querygen_output_always_passes(opportunity: Opportunity, table: str) -> None:
    sql = guard(generate_sql(opportunity, 500, table=table), row_limit=200)
    assert outer_limit(sql) == 200


# ---------------------------------------------------------------- regeneration

_PRESTO = sqlglot.Dialect.get_or_raise("presto")

PLAIN_QUERIES = [
    "SELECT customer_name FROM parquet",
    "SELECT DISTINCT industry FROM parquet ORDER BY industry",
    "SELECT a.industry, count(*) AS n FROM parquet a JOIN catapult_db_p.parquet b "
    "ON a.industry = b.industry LEFT JOIN parquet c ON c.region = a.region "
    "GROUP BY a.industry HAVING count(*) > 1",
    "SELECT industry, rank() OVER (PARTITION BY region ORDER BY close_date DESC) AS r FROM parquet",
    "SELECT * FROM (SELECT * FROM parquet LIMIT 5000) AS p WHERE p.region IN "
    "(SELECT region FROM parquet WHERE industry = 'x')",
    "SELECT industry FROM parquet UNION SELECT region FROM parquet",
    "WITH a AS (SELECT * FROM parquet), b AS (SELECT * FROM a) SELECT * FROM b",
    "SELECT * FROM parquet CROSS JOIN UNNEST(ARRAY[1, 2]) AS t(x)",
]


def _full_presto(sql: str) -> str:
    """What sqlglot's own Presto generator writes for the guard's tree."""
    root = sqlglot.parse_one(sql, read="presto")
    root.set("limit", exp.Limit(expression=exp.Literal.number(100)))
    return _PRESTO.generate(root, comments=False, pretty=True)


@pytest.mark.parametrize(
    "sql",
    [*PLAIN_QUERIES, *(generate_sql(o, 200) for o in OPPORTUNITIES)],
    ids=[f"plain-{i}" for i in range(len(PLAIN_QUERIES))]
    + [f"querygen-{i}" for i in range(len(OPPORTUNITIES))],
)
def test_regeneration_without_rewrites_matches_sqlglot_presto(sql: str) -> None:
    # The guard skips the Presto SELECT rewrites for trees they cannot change; the text
    # must be exactly what the full generator writes.
    assert guard_tree(sql) == _full_presto(sql)


@pytest.mark.parametrize(
    ("sql", "rewritten"),
    [
        ("SELECT explode(x) AS y FROM parquet", "UNNEST"),
        ("SELECT sum(a) OVER w AS s FROM parquet WINDOW w AS (PARTITION BY b)", "PARTITION BY b"),
        ("SELECT DISTINCT ON (a) a, b FROM parquet", "ROW_NUMBER()"),
        ("SELECT a FROM parquet p LEFT SEMI JOIN parquet q ON p.a = q.a", "EXISTS"),
        ("SELECT a FROM parquet p LEFT ANTI JOIN parquet q ON p.a = q.a", "NOT EXISTS"),
        ("SELECT c FROM parquet LATERAL VIEW explode(x) t AS c", "UNNEST"),
    ],
    ids=["explode", "window-clause", "distinct-on", "semi-join", "anti-join", "lateral-view"],
)
def test_presto_rewrites_still_apply_when_needed(sql: str, rewritten: str) -> None:
    # The Presto parser accepts these; Athena needs them rewritten as sqlglot does.
    out = guard(sql)
    assert out == _full_presto(sql)
    assert rewritten in out
    assert "WINDOW w" not in out and "SEMI" not in out and "EXPLODE" not in out.upper()


def test_the_fast_regeneration_is_in_use() -> None:
    # A sqlglot upgrade without the generator's handler table falls back to the slow,
    # always-correct path; this says so instead of silently costing ~0.25 ms.
    from services.analysis import sqlguard

    assert sqlguard._FAST_DISPATCH is not None


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "tree"])
def test_a_guarded_query_leaves_no_cyclic_garbage(fast_path: bool) -> None:
    # The checked tree is unlinked so reference counting frees it at once; left to the
    # cyclic collector it made every young collection on the event loop walk it.
    import gc

    sql = generate_sql(OPPORTUNITIES[0], 500)

    def run() -> str:
        return guard_sql(sql, allowed_tables=ALLOWED, row_limit=200, fast_path=fast_path)

    run()
    gc.collect()
    gc.disable()
    try:
        run()
        assert gc.collect() == 0
    finally:
        gc.enable()


# ---------------------------------------------------------------- rejected queries


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE stolen AS SELECT * FROM parquet",
        "CREATE VIEW v AS SELECT * FROM parquet",
        "DROP TABLE parquet",
        "ALTER TABLE parquet ADD COLUMN x INT",
        "TRUNCATE TABLE parquet",
    ],
    ids=["create-table-as", "create-view", "drop", "alter", "truncate"],
)
def test_ddl_is_rejected(sql: str) -> None:
    assert "only SELECT queries are allowed" in rejected(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO parquet (industry) VALUES ('x')",
        "INSERT INTO parquet SELECT * FROM parquet",
        "UPDATE parquet SET industry = 'x'",
        "DELETE FROM parquet",
        "MERGE INTO parquet t USING parquet s ON t.industry = s.industry WHEN MATCHED THEN DELETE",
    ],
    ids=["insert", "insert-select", "update", "delete", "merge"],
)
def test_dml_is_rejected(sql: str) -> None:
    assert "only SELECT queries are allowed" in rejected(sql)


@pytest.mark.parametrize(
    "sql",
    ["SHOW TABLES", "EXPLAIN SELECT * FROM parquet", "USE other", "SET SESSION x = 1", "CALL p()"],
    ids=["show", "explain", "use", "set-session", "call"],
)
def test_commands_are_rejected(sql: str) -> None:
    rejected(sql)


def test_select_into_is_rejected() -> None:
    assert "INTO" in rejected("SELECT * INTO stolen FROM parquet")


def test_two_statements_are_rejected() -> None:
    message = rejected("SELECT * FROM parquet; DROP TABLE parquet")
    assert message.startswith("SQL rejected: statement 2 of 2 is a DROP")


def test_two_selects_are_rejected() -> None:
    assert "statement 2 of 3" in rejected("SELECT 1 FROM parquet; SELECT 2; SELECT 3")


def test_block_comment_hiding_a_statement_is_rejected() -> None:
    message = rejected("SELECT * FROM parquet /* DROP TABLE parquet */ LIMIT 5")
    assert "a comment hides a statement" in message


def test_line_comment_hiding_a_statement_is_rejected() -> None:
    assert "comment" in rejected("SELECT * FROM parquet -- DELETE FROM parquet")


def test_comment_with_a_separator_is_rejected() -> None:
    assert "comment" in rejected("SELECT * FROM parquet /* ; */")


def test_disallowed_table_is_rejected() -> None:
    message = rejected("SELECT * FROM secrets")
    assert "table secrets is not allowed" in message


def test_disallowed_table_in_subquery_is_rejected() -> None:
    rejected("SELECT * FROM parquet WHERE industry IN (SELECT name FROM secrets)")


def test_disallowed_table_in_join_is_rejected() -> None:
    rejected("SELECT * FROM parquet p LEFT JOIN users u ON p.customer_name = u.name")


def test_disallowed_table_in_cte_body_is_rejected() -> None:
    rejected("WITH s AS (SELECT * FROM information_schema.tables) SELECT * FROM s")


@pytest.mark.parametrize(
    "sql",
    [
        "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
        "WITH a AS (SELECT * FROM secrets), secrets AS (SELECT * FROM parquet) SELECT * FROM a",
        "WITH a AS (WITH secrets AS (SELECT * FROM parquet) SELECT * FROM secrets) "
        "SELECT * FROM secrets",
        "WITH a AS (SELECT * FROM (WITH secrets AS (SELECT * FROM parquet) "
        "SELECT * FROM secrets) AS t) SELECT * FROM secrets",
    ],
    ids=["reads-its-namesake", "reads-a-later-cte", "inner-cte-outside", "subquery-cte-outside"],
)
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "tree"])
def test_a_cte_name_counts_only_where_the_engine_sees_that_cte(sql: str, fast_path: bool) -> None:
    # The engine checks a CTE's body before adding its name, and an inner WITH's names
    # end with it: each query here reads the real table ``secrets`` somewhere.
    with pytest.raises(SqlRejected) as caught:
        guard_sql(sql, allowed_tables=ALLOWED, row_limit=100, fast_path=fast_path)
    assert "secrets" in str(caught.value)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "tree"])
def test_outer_ctes_are_seen_inside_nested_queries(fast_path: bool) -> None:
    sql = (
        "WITH a AS (SELECT * FROM parquet), b AS (SELECT * FROM a) "
        "SELECT * FROM (WITH c AS (SELECT * FROM b) SELECT * FROM c) AS t"
    )
    assert (
        outer_limit(guard_sql(sql, allowed_tables=ALLOWED, row_limit=9, fast_path=fast_path)) == 9
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM " + "(SELECT * FROM " * 600 + "parquet" + ") AS t" * 600,
        "SELECT " + "(" * 2000 + "1" + ")" * 2000 + " FROM parquet",
    ],
    ids=["subqueries", "parentheses"],
)
def test_nesting_too_deep_to_check_is_rejected_not_a_crash(sql: str) -> None:
    assert "nested too deeply" in rejected(sql)


def test_a_limit_beyond_any_integer_is_clamped() -> None:
    assert outer_limit(guard("SELECT * FROM parquet LIMIT " + "9" * 5000)) == 100


def test_disallowed_table_in_union_branch_is_rejected() -> None:
    rejected("SELECT industry FROM parquet UNION ALL SELECT name FROM secrets")


def test_other_database_is_rejected() -> None:
    assert "other_db.parquet" in rejected("SELECT * FROM other_db.parquet")


def test_catalog_qualified_table_is_rejected() -> None:
    assert "catalog" in rejected("SELECT * FROM hive.catapult_db_p.parquet")


def test_file_as_table_is_rejected() -> None:
    rejected('SELECT * FROM "data.csv"')


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('data.csv')",
        "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))",
    ],
    ids=["read-csv", "system-query"],
)
def test_table_functions_are_rejected(sql: str) -> None:
    rejected(sql)


@pytest.mark.parametrize(
    "function",
    ["read_text('x')", "getenv('HOME')", "duckdb_secrets()", "current_setting('x')"],
)
def test_engine_functions_that_reach_outside_are_rejected(function: str) -> None:
    assert "is not allowed" in rejected(f"SELECT {function} AS v FROM parquet")


@pytest.mark.parametrize(
    "sql",
    ["SELEC * FROM parquet", "SELECT * FROM parquet WHERE (", "SELECT 'unterminated FROM parquet"],
    ids=["typo", "unbalanced", "unterminated-string"],
)
def test_unparsable_text_is_rejected(sql: str) -> None:
    rejected(sql)


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", ";"])
def test_empty_input_is_rejected(sql: str) -> None:
    rejected(sql)


def test_parenthesised_query_root_is_rejected() -> None:
    rejected("(SELECT * FROM parquet) LIMIT 3")


def test_rejection_is_a_failed_query_generation_step() -> None:
    with pytest.raises(StepFailed) as caught:
        guard("DROP TABLE parquet")
    assert caught.value.step == "query_generation"


def test_row_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        guard("SELECT * FROM parquet", row_limit=0)


def test_the_compiled_sqlglot_is_the_one_imported() -> None:
    # sqlglotc (a pinned dependency) installs compiled modules beside sqlglot's sources;
    # a version mismatch or a broken install would silently make the guard ~5x slower.
    import sqlglot.parser

    assert sqlglot.parser.__file__ is not None
    assert sqlglot.parser.__file__.endswith(".so"), sqlglot.parser.__file__
