"""The guard's fast path agrees with the tree: whatever it accepts, the tree accepts too,
with the same meaning; whatever is outside its shape, it hands over."""

from __future__ import annotations

import random

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.tokenizer_core import Token, TokenType

from services.analysis import fastguard
from services.analysis.errors import SqlRejected
from services.analysis.querygen import generate_sql
from services.analysis.sqlguard import guard_sql
from services.common.domain import Opportunity

PRESTO = sqlglot.Dialect.get_or_raise("presto")
ALLOWED = {("catapult_db_p", "parquet")}

OPPORTUNITIES = [
    Opportunity("Acme Bank", "us-east-1", "2025-03-01", "Core banking", "Oracle to Aurora"),
    Opportunity("O'Brien; DROP TABLE parquet; --", "eu-west-1", "bad", "x' OR '1'='1", "/* */"),
    Opportunity("X", "", "", "the", "and"),
]

PLAIN = [
    "SELECT customer_name FROM parquet",
    "select lower(industry) as i from parquet where close_date > 0",
    "SELECT DISTINCT industry FROM parquet ORDER BY industry",
    "SELECT * FROM parquet LIMIT 7",
    "SELECT " + "(" * 127 + "1" + ")" * 127 + " FROM parquet",  # nesting at the bound
    "SELECT a FROM parquet WHERE " + "NOT " * 100 + "a AND " + "NOT a AND " * 200 + "a",
    "SELECT * FROM parquet LIMIT 100000",
    "SELECT p.* FROM catapult_db_p.parquet AS p WHERE p.region IN ('EMEA', 'APJ') "
    "AND NOT p.industry LIKE '%bank%'",
    "WITH a AS (SELECT * FROM parquet), b AS (SELECT * FROM a) SELECT * FROM b",
    "SELECT * FROM (SELECT * FROM parquet LIMIT 5000) AS p",
    "SELECT industry, count(*) AS n, sum(annual_run_rate_usd) / count(DISTINCT customer_name)"
    " AS avg_arr FROM parquet GROUP BY industry HAVING count(*) > 1 ORDER BY n DESC NULLS LAST",
    "SELECT \"Customer Name\" FROM parquet WHERE description = 'O''Brien''s \"data\"'",
    "SELECT * FROM parquet WHERE close_date BETWEEN 1 AND 2 + 3 AND x IS NOT NULL "
    "AND y NOT IN (1, 2.5);",
    "SELECT CASE industry WHEN 'a' THEN 1 ELSE -2 END AS c, a || b FROM PARQUET",
    "SELECT trim(a) FROM parquet WHERE a != 'x' AND (b = 1) = TRUE AND 1+2 > c",
    "WITH a AS (SELECT * FROM parquet) SELECT * FROM (WITH b AS (SELECT * FROM a) "
    "SELECT * FROM b) AS t",
    "SELECT 'naïve' AS \"café\" FROM parquet",
    *(
        generate_sql(o, 500, table=t)
        for o in OPPORTUNITIES
        for t in ("parquet", "catapult_db_p.parquet")
    ),
]

HANDED_OVER = {
    "join": "SELECT * FROM parquet a JOIN parquet b ON a.x = b.x",
    "comma-join": "SELECT * FROM parquet a, parquet b",
    "union": "SELECT industry FROM parquet UNION SELECT region FROM parquet",
    "subquery-in-where": "SELECT * FROM parquet WHERE region IN (SELECT region FROM parquet)",
    "cast": "SELECT CAST(close_date AS VARCHAR) FROM parquet",
    "window": "SELECT rank() OVER (ORDER BY close_date) AS r FROM parquet",
    "comment": "SELECT * FROM parquet -- the most similar first",
    "other-function": "SELECT date_trunc('month', close_date) FROM parquet",
    "denied-function": "SELECT getenv('HOME') AS v FROM parquet",
    "qualified-function": "SELECT system.runtime.f(1) FROM parquet",
    "disallowed-table": "SELECT * FROM secrets",
    "other-database": "SELECT * FROM other_db.parquet",
    "catalog": "SELECT * FROM hive.catapult_db_p.parquet",
    "quoted-table": 'SELECT * FROM "data.csv"',
    "table-function": "SELECT * FROM read_csv('data.csv')",
    "cte-reads-other-table": "WITH s AS (SELECT * FROM secrets) SELECT * FROM s",
    "two-statements": "SELECT * FROM parquet; DROP TABLE parquet",
    "ddl": "DROP TABLE parquet",
    "select-into": "SELECT * INTO stolen FROM parquet",
    "limit-all": "SELECT * FROM parquet LIMIT ALL",
    "fetch-first": "SELECT * FROM parquet FETCH FIRST 5 ROWS ONLY",
    "offset": "SELECT * FROM parquet LIMIT 5 OFFSET 2",
    "no-from": "SELECT 1",
    "token-soup": "SELECT a b c FROM parquet",
    "bare-case": "SELECT CASE FROM parquet",
    "parenthesised-root": "(SELECT * FROM parquet) LIMIT 3",
    "unicode-space": "SELECT\u00a0industry FROM parquet",
    # Python calls these spaces (str.isspace); the engine does not.
    "vertical-tab-between-tokens": "SELECT industry\x0bFROM parquet",
    "separator-between-tokens": "SELECT industry\x1cFROM parquet",
    "line-separator-between-tokens": "SELECT industry\u2028FROM parquet",
    "kelvin-sign-as-table": "SELECT a FROM \u212a",
    "unicode-in-keyword": "SELECT a FROM parquet ORDER\u00a0BY a",
    "unicode-letter-in-keyword": "\u017fELECT a FROM parquet",
    "number-run-into-word": "SELECT 1abc FROM parquet",
    "bang-for-not": "SELECT * FROM parquet WHERE ! a = 1",
    "double-equals": "SELECT * FROM parquet WHERE a == 1",
    "tilde-like": "SELECT * FROM parquet WHERE a ~~ 'x%'",
    "reserved-word-as-column": "SELECT cast FROM parquet",
    "reserved-word-as-alias": "SELECT a FROM parquet group",
    "parameterless-function": "SELECT current_path FROM parquet",
    "odd-star-qualifier": "SELECT a$b.* FROM parquet",
    "comparison-chain": "SELECT * FROM parquet WHERE a = b = c",
    "comparison-after-test": "SELECT * FROM parquet WHERE a IS NULL = b",
    "limit-beyond-int64": "SELECT * FROM parquet LIMIT " + "9" * 30,
    "cte-reads-its-namesake": "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
    "cte-reads-a-later-cte": "WITH a AS (SELECT * FROM secrets), secrets AS "
    "(SELECT * FROM parquet) SELECT * FROM a",
    "inner-cte-read-outside": "WITH a AS (WITH secrets AS (SELECT * FROM parquet) "
    "SELECT * FROM secrets) SELECT * FROM secrets",
    "deep-nesting": "SELECT " + "(" * 400 + "1" + ")" * 400 + " FROM parquet",
    "nesting-past-the-bound": "SELECT " + "(" * 128 + "1" + ")" * 128 + " FROM parquet",
    # Each prefix NOT or sign is a level of sqlglot's parser: long chains are the tree's.
    "not-chain": "SELECT a FROM parquet WHERE " + "NOT " * 1000 + "a",
    "sign-chain": "SELECT " + "- " * 1000 + "1 FROM parquet",
    "mixed-sign-chain": "SELECT " + "-+" * 500 + "1 FROM parquet",
    "nots-and-parentheses-past-the-bound": "SELECT a FROM parquet WHERE "
    + "NOT (" * 64
    + "a"
    + ")" * 64,
    "deep-subqueries": "SELECT * FROM " + "(SELECT * FROM " * 40 + "parquet" + ") AS t" * 40,
}


def tokens(sql: str) -> list[Token]:
    return PRESTO.tokenize(sql)


def fast(sql: str, row_limit: int = 100) -> str | None:
    return fastguard.recognise(sql, allowed=ALLOWED, database="catapult_db_p", row_limit=row_limit)


def tree(sql: str, row_limit: int = 100) -> str:
    return guard_sql(sql, allowed_tables={"parquet"}, row_limit=row_limit, fast_path=False)


def outer_limit(root: exp.Expr) -> int:
    limit = root.args["limit"]
    root.set("limit", None)
    return int(limit.expression.this)


def assert_agrees(sql: str) -> bool:
    """True when the fast path took ``sql``; fails unless the tree accepts it too and the
    text to run reads as the query given, with the tree's outer LIMIT."""
    taken = fast(sql)
    if taken is None:
        return False
    try:
        checked = tree(sql)
    except SqlRejected as exc:
        pytest.fail(f"fast path accepted what the tree refuses ({exc}): {sql!r}")
    statements = sqlglot.parse(taken, read="presto")
    assert len(statements) == 1 and statements[0] is not None, taken
    ran, given = statements[0], sqlglot.parse_one(sql, read="presto")
    assert outer_limit(ran) == outer_limit(sqlglot.parse_one(checked, read="presto"))
    given.set("limit", None)
    # Compared with the given query's tree, not the tree guard's text: sqlglot does not
    # always write back what it read (``a NOT IN (b) = c`` comes out as ``NOT a IN …``).
    assert ran == given, (sql, taken)
    return True


@pytest.mark.parametrize("sql", PLAIN, ids=[f"plain-{i}" for i in range(len(PLAIN))])
def test_the_plain_shape_takes_the_fast_path_with_the_trees_meaning(sql: str) -> None:
    assert assert_agrees(sql)


@pytest.mark.parametrize("sql", list(HANDED_OVER.values()), ids=list(HANDED_OVER))
def test_other_shapes_are_handed_to_the_tree(sql: str) -> None:
    assert fast(sql) is None


def test_literals_and_quoted_names_are_sent_as_written() -> None:
    out = fast("SELECT \"a\"\"b\" FROM parquet WHERE c = 'it''s'")
    assert out == "SELECT \"a\"\"b\" FROM parquet WHERE c = 'it''s'\nLIMIT 100"


def test_the_models_layout_is_kept() -> None:
    assert fast("SELECT a,\n  b\nFROM parquet\nLIMIT 5;") == "SELECT a,\n  b\nFROM parquet\nLIMIT 5"


@pytest.mark.parametrize(
    ("sql", "limit"),
    [
        ("SELECT * FROM parquet", "LIMIT 100"),
        ("SELECT * FROM parquet LIMIT 100000", "LIMIT 100"),
        ("SELECT * FROM parquet LIMIT 7", "LIMIT 7"),
    ],
    ids=["added", "clamped", "kept"],
)
def test_the_outer_limit_is_settled(sql: str, limit: str) -> None:
    out = fast(sql)
    assert out is not None and out.endswith(limit)


@pytest.mark.parametrize(
    ("sql", "sent"),
    [
        ("SELECT a FROM parquet LIMIT\t100000 ;\r\n", "SELECT a FROM parquet LIMIT\t100"),
        ("SELECT a FROM parquet\r\nLIMIT 007;", "SELECT a FROM parquet\r\nLIMIT 7"),
        ("  SELECT a FROM parquet \n\t", "  SELECT a FROM parquet\nLIMIT 100"),
    ],
    ids=["tab-space-semicolon-crlf", "leading-zeros", "surrounding-whitespace"],
)
def test_the_text_is_sent_up_to_its_last_token(sql: str, sent: str) -> None:
    assert fast(sql) == sent


def test_a_second_semicolon_is_the_trees_to_judge() -> None:
    assert fast("SELECT a FROM parquet;;") is None


def test_inner_limits_are_left_alone() -> None:
    out = fast("SELECT * FROM (SELECT * FROM parquet LIMIT 5000) AS p")
    assert out == "SELECT * FROM (SELECT * FROM parquet LIMIT 5000) AS p\nLIMIT 100"


def test_a_cte_name_is_not_a_table_but_its_body_is_checked() -> None:
    assert fast("WITH s AS (SELECT * FROM parquet) SELECT * FROM s") is not None
    assert fast("WITH s AS (SELECT * FROM secrets) SELECT * FROM s") is None


def test_the_guard_uses_the_fast_path_only_for_presto() -> None:
    sql = "SELECT a FROM parquet"
    assert (
        guard_sql(sql, allowed_tables={"parquet"}, row_limit=5) == "SELECT a FROM parquet\nLIMIT 5"
    )
    from_duckdb = guard_sql(sql, allowed_tables={"parquet"}, row_limit=5, dialect="duckdb")
    assert from_duckdb == tree(sql, row_limit=5)


# ---------------------------------------------------------------- mutated queries

_VOCABULARY = [
    "FROM", "JOIN", "(", ")", ",", ".", "secrets", "getenv", "SELECT", ";", "--", "/*",
    "'x'", "AND", "OR", "NOT", "UNION", "LIMIT", "1", "*", "CASE", "WHEN", "THEN", "END",
    "IN", "IS", "NULL", "AS", "WITH", "parquet", "other.parquet", "read_csv", "LIKE",
    "BETWEEN", "DISTINCT", "ORDER BY", "GROUP BY", "ASC", "DESC", "INTO", "DROP", "x",
    "==", "!", "!=", "~~", "1abc", "group", "cast", "current_path", "trim",
]  # fmt: skip


def _spelled(token: Token, sql: str) -> str:
    if token.token_type is TokenType.STRING:
        return "'" + token.text.replace("'", "''") + "'"
    return sql[token.start : token.end + 1]


def _mutants(rng: random.Random, count: int) -> list[str]:
    bases = [*PLAIN, *HANDED_OVER.values()]
    out = []
    for _ in range(count):
        sql = rng.choice(bases)
        words = [_spelled(t, sql) for t in tokens(sql)]
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(len(words))
            match rng.randrange(5):
                case 0 if len(words) > 1:
                    del words[at]
                case 1:
                    words.insert(at, words[at])
                case 2 if at + 1 < len(words):
                    words[at], words[at + 1] = words[at + 1], words[at]
                case 3:
                    words[at] = rng.choice(words)  # a word of the same query elsewhere
                case _:
                    words[at] = rng.choice(_VOCABULARY)
        out.append(" ".join(words))
    return out


def test_mutated_queries_the_fast_path_takes_mean_the_same_through_the_tree() -> None:
    # Small edits to plain and refused queries wander along the edge of the fast path's
    # shape; on every one it takes, the tree must accept and read the same query.
    taken = sum(assert_agrees(sql) for sql in _mutants(random.Random(7), 5000))
    assert taken > 100  # the property was exercised, not vacuously true


# ---------------------------------------------------------------- generated queries

_FUNCTIONS = [*fastguard.SAFE_FUNCTIONS, "count", "sum", "max", "date_trunc", "getenv"]
_BINARY = ["AND", "OR", "=", "<>", "<", ">=", "+", "-", "*", "/", "%", "||"]


class _Writer:
    """Random queries in and around the fast path's shape, some of them invalid."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def expr(self, depth: int) -> str:
        rng = self.rng
        leaf = depth <= 0 or rng.random() < 0.3
        if leaf:
            return rng.choice(
                ["1", "2.5", "'a''b'", "NULL", "TRUE", "industry", "p.region", '"Close Date"']
            )
        inner = depth - 1
        match rng.randrange(10):
            case 0:
                name = rng.choice(_FUNCTIONS)
                args = ", ".join(self.expr(inner) for _ in range(rng.randrange(4)))
                return f"{name}({rng.choice(['', '', 'DISTINCT '])}{args})"
            case 1:
                whens = " ".join(
                    f"WHEN {self.expr(inner)} THEN {self.expr(inner)}"
                    for _ in range(rng.randint(1, 2))
                )
                return f"CASE {whens} ELSE {self.expr(inner)} END"
            case 2:
                low, high = self.expr(inner), self.expr(inner)
                return f"{self.expr(inner)} BETWEEN {low} AND {high}"
            case 3:
                values = ", ".join(self.expr(inner) for _ in range(rng.randint(1, 3)))
                return f"{self.expr(inner)} {rng.choice(['IN', 'NOT IN'])} ({values})"
            case 4:
                return f"{self.expr(inner)} IS {rng.choice(['', 'NOT '])}NULL"
            case 5:
                return f"{rng.choice(['NOT ', '-', ''])}{self.expr(inner)}"
            case 6:
                return f"{self.expr(inner)} {rng.choice(['LIKE', 'NOT LIKE'])} '%x%'"
            case 7:
                return f"({self.expr(inner)})"
            case _:
                return f"{self.expr(inner)} {rng.choice(_BINARY)} {self.expr(inner)}"

    def source(self, depth: int) -> str:
        rng = self.rng
        if depth > 0 and rng.random() < 0.2:
            return f"({self.query(depth - 1)}) AS s{rng.randrange(3)}"
        table = rng.choice(["parquet", "catapult_db_p.parquet", "secrets", "other.parquet", "c"])
        return table + rng.choice(["", " p", " AS p"])

    def query(self, depth: int) -> str:
        rng = self.rng
        parts = []
        if depth > 0 and rng.random() < 0.3:
            name = rng.choice(["c", "secrets"])
            parts.append(f"WITH {name} AS ({self.query(depth - 1)})")
        items = ", ".join(
            rng.choice(["*", "p.*", self.expr(2), f"{self.expr(2)} AS v"])
            for _ in range(rng.randint(1, 3))
        )
        parts += [f"SELECT {rng.choice(['', 'DISTINCT '])}{items}", f"FROM {self.source(depth)}"]
        if rng.random() < 0.5:
            parts.append(f"WHERE {self.expr(3)}")
        if rng.random() < 0.2:
            parts.append(f"GROUP BY {self.expr(1)}")
            if rng.random() < 0.5:
                parts.append(f"HAVING {self.expr(2)}")
        if rng.random() < 0.3:
            direction = rng.choice(["", " ASC", " DESC", " DESC NULLS LAST", " NULLS FIRST"])
            parts.append(f"ORDER BY {self.expr(1)}{direction}")
        if rng.random() < 0.4:
            parts.append(f"LIMIT {rng.choice(['5', '5000', 'ALL', '2.5'])}")
        return " ".join(parts)


def test_generated_queries_the_fast_path_takes_mean_the_same_through_the_tree() -> None:
    writer = _Writer(random.Random(11))
    taken = sum(assert_agrees(writer.query(2)) for _ in range(3000))
    assert taken > 300  # the property was exercised, not vacuously true
