"""The fast path's lexer answers only with sqlglot's Presto tokens, kind and text, and
declines (None) whatever sqlglot or the engine might read another way."""

from __future__ import annotations

import random

import pytest
import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

from services.analysis import fastlex
from services.analysis.querygen import generate_sql
from services.common.domain import Opportunity

PRESTO = sqlglot.Dialect.get_or_raise("presto")
TOKENIZER = PRESTO.tokenizer_class


def sqlglot_tokens(sql: str) -> list[tuple[TokenType, str]]:
    return [(token.token_type, token.text) for token in PRESTO.tokenize(sql)]


def lexed(sql: str) -> list[tuple[TokenType, str]] | None:
    answer = fastlex.lex(sql)
    if answer is None:
        return None
    kinds, texts = answer
    assert len(kinds) == len(texts), sql
    return list(zip(kinds, texts, strict=True))


def assert_lexed_as_sqlglot(sql: str) -> None:
    tokens = lexed(sql)
    assert tokens is not None, f"declined: {sql!r}"
    assert tokens == sqlglot_tokens(sql), sql


# ---------------------------------------------------------------- declined

# One case per rule of fastlex's docstring, each inside an otherwise plain query, so that
# only the rule can be what declines it.
DECLINED = {
    "dash-comment": "SELECT a FROM t -- note",
    "dash-comment-in-operator-position": "SELECT a--1 FROM t",
    "block-comment": "SELECT /* note */ a FROM t",
    "hint": "SELECT /*+ BROADCAST */ a FROM t",
    "nullsafe-equals": "SELECT a FROM t WHERE a <=> b",
    "arrow": "SELECT a->b FROM t",
    "named-argument-arrow": "SELECT f(x => 1) FROM t",
    "double-equals": "SELECT a FROM t WHERE a == 1",
    "bang": "SELECT a FROM t WHERE ! a",
    "lone-pipe": "SELECT a | b FROM t",
    "pipe-arrow": "SELECT a |> b FROM t",
    "double-colon-cast": "SELECT a::int FROM t",
    "dollar": "SELECT a$b FROM t",
    "dollar-after-word": "SELECT $1 FROM t",
    "at-parameter": "SELECT @a FROM t",
    "hash": "SELECT a # b FROM t",
    "tilde-like": "SELECT a FROM t WHERE a ~~ 'x'",
    "question-mark": "SELECT a FROM t WHERE a = ?",
    "backslash": "SELECT a \\ b FROM t",
    "brackets": "SELECT a[1] FROM t",
    "backquoted-name": "SELECT `a` FROM t",
    "jinja": "SELECT {{ a }} FROM t",
    "non-ascii-letter": "SELECT café FROM t",
    # Python calls it uppercase K; .upper() would then turn a name into an ASCII one.
    "kelvin-sign": "SELECT a FROM \u212a",
    "long-s": "\u017fELECT a FROM t",
    "no-break-space": "SELECT\u00a0a FROM t",
    "no-break-space-in-group-by": "SELECT a FROM t GROUP\u00a0BY a",
    "line-separator": "SELECT a\u2028FROM t",
    # Python's whitespace, not the engine's.
    "form-feed": "SELECT a\fFROM t",
    "vertical-tab": "SELECT a\vFROM t",
    "file-separator": "SELECT a\x1cFROM t",
    "nul": "SELECT a\x00 FROM t",
    "exponent": "SELECT 1e3 FROM t",
    "exponent-after-decimal": "SELECT 1.5E-3 FROM t",
    "number-run-into-word": "SELECT 1abc FROM t",
    "number-run-into-underscore": "SELECT 1_000 FROM t",
    "hex-number": "SELECT 0x1F FROM t",
    "two-dots": "SELECT 1..2 FROM t",
    "second-decimal-point": "SELECT 1.2.3 FROM t",
    "number-run-into-string": "SELECT 1'a' FROM t",
    "number-run-into-quoted-name": 'SELECT 1"a" FROM t',
    "hex-string": "SELECT X'1F' FROM t",
    "unicode-string": "SELECT U&'a' FROM t",
    "national-string": "SELECT N'a' FROM t",
    "word-run-into-quoted-name": 'SELECT a"b" FROM t',
    "empty-quoted-name": 'SELECT "" FROM t',
    "sort-by": "SELECT a FROM t SORT BY a",
    "sort-alone": "SELECT sort FROM t",
    "double-precision": "SELECT CAST(a AS DOUBLE PRECISION) FROM t",
    "user-defined": "SELECT user-defined FROM t",
    "grouping-sets": "SELECT a FROM t GROUP BY GROUPING SETS ((a))",
    "unterminated-string": "SELECT a FROM t WHERE a = 'x",
    "unterminated-string-ending-in-escaped-quote": "SELECT a FROM t WHERE a = 'x''",
    "unterminated-quoted-name": 'SELECT "a FROM t',
    "jinja-block-end": "SELECT a -%} b FROM t",
    "less-than-before-minus": "SELECT a FROM t WHERE a <-1",
    # sqlglot reads all that follows a command word at the start of a statement as one
    # STRING token, where a lexer of words would read the words one by one.
    "command-word-first": "SHOW tables",
    "command-word-after-semicolon": "SELECT 1; EXECUTE p USING 1",
    "command-word-after-start": "START EXECUTE p",
    # The engine reads ``.5`` as one decimal literal, sqlglot as a dot and 5.
    "dot-before-digit": "SELECT a FROM t WHERE b = .5",
}


@pytest.mark.parametrize("sql", list(DECLINED.values()), ids=list(DECLINED))
def test_what_sqlglot_or_the_engine_might_read_otherwise_is_declined(sql: str) -> None:
    assert fastlex.lex(sql) is None


def test_the_plain_query_around_each_declined_case_is_lexed() -> None:
    # The declined cases differ from this by their rule alone; were it declined, they
    # would prove nothing.
    assert_lexed_as_sqlglot("SELECT a FROM t WHERE a = 'x' GROUP BY a")


# ---------------------------------------------------------------- lexed

LEXED = {
    "group-by-across-a-tab": "SELECT a FROM t GROUP\tBY a",
    "group-by-across-lines": "SELECT a FROM t GROUP\r\n  \n BY a",
    "group-by-mixed-case": "select a from t gRoUp bY a",
    "order-by-across-a-newline": "SELECT a FROM t ORDER\nby a DESC",
    "order-by-before-a-parenthesis": "SELECT a FROM t ORDER BY(a)",
    "order-by-at-the-end": "SELECT a FROM t ORDER BY",
    "group-then-group-by": "SELECT group FROM t GROUP BY group",
    "by-run-into-a-word": "SELECT a FROM t GROUP BYx",
    "quoted-group-before-by": 'SELECT "GROUP" BY FROM t',
    "doubled-quote-in-string": "SELECT 'it''s' FROM t",
    "only-a-quote-in-string": "SELECT '''' FROM t",
    "empty-string": "SELECT '' FROM t",
    "doubled-quote-in-name": 'SELECT "a""b" FROM t',
    "string-with-newlines": "SELECT 'a\nb\r\nc' FROM t",
    "string-with-non-ascii": "SELECT 'naïve \u212a \u00a0 😀' FROM t",
    "string-with-comment-marks": "SELECT '-- /* */ ;' FROM t",
    "string-with-backslash": "SELECT 'a\\' FROM t",
    "string-with-double-quotes": "SELECT 'say \"hi\"' FROM t",
    "name-with-newline-and-non-ascii": 'SELECT "café\nau lait" FROM t',
    "name-with-single-quote": 'SELECT "O\'Brien" FROM t',
    "string-run-into-word": "SELECT 'a'b FROM t",
    "adjacent-strings": "SELECT 'a' 'b' FROM t",
    "not-equal-angle": "SELECT a FROM t WHERE a<>b",
    "not-equal-bang": "SELECT a FROM t WHERE a!=b",
    "concatenation": "SELECT a||b||'c' FROM t",
    "comparisons": "SELECT a FROM t WHERE a<=1 AND b>=2 AND c<3 AND d>4",
    "equals-minus": "SELECT a FROM t WHERE a=-1",
    "minus-minus-spaced": "SELECT - -1 FROM t",
    "arithmetic": "SELECT (a+b)*c/d%e FROM t",
    "star-slash": "SELECT a*/b FROM t",
    "trailing-dot-number": "SELECT 1. FROM t",
    "decimal": "SELECT 2.5, 007, 10.00 FROM t",
    "qualified-names": "SELECT t.a, db.t.b, t.* FROM db.t",
    "underscore-name": "SELECT _a1 FROM t",
    "keywords-in-any-case": "sElEcT DiStInCt a FrOm t WhErE a Is NoT nUlL",
    "trailing-semicolon": "SELECT a FROM t;",
    "whitespace-around": " \t\r\n SELECT a FROM t ; \n",
    "empty": "",
    "only-whitespace": " \t\r\n",
}


@pytest.mark.parametrize("sql", list(LEXED.values()), ids=list(LEXED))
def test_plain_text_is_lexed_as_sqlglot_lexes_it(sql: str) -> None:
    assert_lexed_as_sqlglot(sql)


@pytest.mark.parametrize(
    ("sql", "text"),
    [
        ("a GROUP BY b", "GROUP BY"),
        ("a group\t\tby b", "GROUP BY"),
        ("a Order\nBy b", "ORDER BY"),
    ],
)
def test_group_by_and_order_by_are_one_token(sql: str, text: str) -> None:
    tokens = lexed(sql)
    assert tokens is not None and len(tokens) == 3 and tokens[1][1] == text
    assert tokens == sqlglot_tokens(sql)


def test_every_one_word_keyword_is_read_as_sqlglot_reads_it() -> None:
    # The keyword table is sqlglot's own; in the middle of a statement (a command word
    # at the start is a known misreading, above), in three spellings each.
    words = [key for key in TOKENIZER.KEYWORDS if key.isascii() and key.isidentifier()]
    answered = 0
    for word in words:
        for spelling in (word, word.lower(), word.title()):
            sql = f"x {spelling} y"
            tokens = lexed(sql)
            if tokens is not None:
                assert tokens == sqlglot_tokens(sql), sql
                answered += 1
    # Only the first words of longer keywords (SORT, DOUBLE …) may be declined.
    assert answered > 0.9 * 3 * len(words), (answered, len(words))


# ---------------------------------------------------------------- random text

# Pieces of plain queries next to the spellings each rule is about, run together or
# apart: where two meet is where a lexer may read one thing and sqlglot another.
_FRAGMENTS = [
    *("SELECT", "select", "FROM", "WHERE", "AND", "or", "NOT", "IN", "IS", "NULL", "LIKE"),
    *("CASE", "WHEN", "THEN", "ELSE", "END", "AS", "LIMIT", "DISTINCT", "TRUE", "group"),
    *("GROUP", "ORDER", "order", "BY", "by", "SORT", "DOUBLE", "PRECISION", "USER"),
    *("DEFINED", "SORT BY", "double\tprecision", "user-defined", "Character Varying"),
    *("x", "X", "u", "U", "N", "e", "E3", "a1", "_", "parquet", "t.a"),
    *("0", "1", "12", "1.", "2.5", "0x1F", "1e3", "1abc"),
    *("'a'", "'it''s'", "''", "'", "'\n'", "'é'", '"a"', '"a""b"', '""', '"', '"\n"'),
    *("(", ")", ",", ".", ";", "+", "-", "*", "/", "%", "=", "<", ">", "<>", "<=", ">="),
    *("!=", "||", "!", "|", "==", "<=>", "->", "=>", "::", "--", "/*", "*/", "~~", "&"),
    *("$", "@", "#", "?", "\\", "`", "[", "{", "%}", "é", "\u212a", "\u00a0", "\f"),
]
_SEPARATORS = ["", "", " ", " ", " ", "\t", "\n", "\r\n", "  ", "\f", "\u00a0"]
_CHARS = "'\"-/*<>=!|.;,()+%0123456789eExXuU&$@#:~\\ \t\n\r\fab_é\u212a\u00a0"


def _soup(rng: random.Random) -> str:
    count = rng.randint(1, 12)
    return "".join(rng.choice(_FRAGMENTS) + rng.choice(_SEPARATORS) for _ in range(count))


def _mutated(rng: random.Random, sql: str) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(sql) + 1)
        match rng.randrange(4):
            case 0:
                sql = sql[:at] + rng.choice(_CHARS) + sql[at:]
            case 1:
                sql = sql[:at] + sql[at + 1 :]
            case 2:
                sql = sql[:at] + rng.choice(_FRAGMENTS) + sql[at:]
            case _:
                sql = sql[:at] + sql[at : at + 8].swapcase() + sql[at + 8 :]
    return sql


_BASES = [
    "SELECT a, count(*) AS n FROM parquet WHERE b <> 'x''y' GROUP BY a ORDER BY n DESC LIMIT 5",
    "SELECT \"Customer Name\" FROM parquet WHERE c || 'z' LIKE '%a%' AND d >= 2.5;",
    "WITH s AS (SELECT * FROM parquet) SELECT * FROM s WHERE e != -1 AND f IS NOT NULL",
    generate_sql(Opportunity("O'Brien", "eu-west-1", "2025-01-01", "Core banking", "SAP"), 50),
]


def test_whenever_it_answers_it_answers_as_sqlglot() -> None:
    # Half token soup, half small edits of plain queries (the text a model writes, just
    # off the plain shape).
    rng = random.Random(20240611)
    answered = declined = 0
    for i in range(4000):
        sql = _mutated(rng, rng.choice(_BASES)) if i % 2 else _soup(rng)
        tokens = lexed(sql)
        if tokens is None:
            declined += 1
            continue
        answered += 1
        try:
            expected = sqlglot_tokens(sql)
        except SqlglotError:
            pytest.fail(f"lexed what sqlglot cannot tokenize: {sql!r}")
        assert tokens == expected, sql
    # Both sides of the property were exercised: neither all declined nor all answered.
    assert answered > 1000, answered
    assert declined > 1000, declined
