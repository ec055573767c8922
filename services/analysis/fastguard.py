"""The SQL guard's fast path: the common query shape checked on tokens, without a tree.

A model asked for the scoring query writes nearly always the same shape: an optional
WITH, SELECTs over one table or a CTE, CASE/LIKE arithmetic, WHERE, GROUP BY, ORDER BY
and LIMIT. Parsing that into sqlglot's tree, walking it and writing it out again costs
about 2 ms of the event loop per analysis, most of the service's own time. This module
recognises that shape straight from the tokens (the same tokenizer the parser uses)
with a small grammar that is a strict subset of Presto SQL:

    query   := [WITH name AS ( query ) {, name AS ( query )}] SELECT [DISTINCT] items
               FROM source [WHERE expr] [GROUP BY exprs] [HAVING expr]
               [ORDER BY expr [ASC|DESC] [NULLS FIRST|LAST] {, ...}] [LIMIT integer]
    source  := table [[AS] alias] | ( query ) [[AS] alias]
    expr    := predicates joined by AND / OR, each optionally negated; a predicate is
               an operand (literals, columns, ( expr ), CASE … END, arithmetic, ||, calls
               of ``SAFE_FUNCTIONS``) with at most one comparison or one [NOT] LIKE /
               BETWEEN / IN (list) / IS [NOT] NULL test, as in the engine's grammar

Everything else (joins, set operations, subqueries in expressions, CAST, window
functions, comments, any other keyword or function) is not refused here but handed to
the full guard, which stays the authority: ``recognise`` answers ``None`` whenever it is
not sure, and must never accept what the full guard would refuse. Tests hold it to
that on named cases and on thousands of generated and mutated queries, and check that
the text it returns reads as the query it was given.

A bare table name is a CTE only where the engine would see that CTE: a CTE's body
sees the CTEs before it, never itself or later ones, and an inner WITH's names end
with its query. Names are never the engine's reserved words (``TRINO_RESERVED``).

What the engine runs is still what was checked: the output is rebuilt from the tokens
(string literals and quoted names re-quoted from their values) with the original
whitespace between them, and the outer LIMIT added or clamped. Text copied as it is
must be lexed by the engine as sqlglot lexed it: printable ASCII only, no spellings
only sqlglot knows (``!``, ``==``, ``~~``), no number run into a word (``1abc``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from types import SimpleNamespace

from sqlglot.tokenizer_core import Token, TokenType

from services.analysis.querygen import sql_literal

__all__ = ["SAFE_FUNCTIONS", "TRINO_RESERVED", "recognise"]

# Plain scalar and aggregate functions that read only their arguments, with the
# argument counts sqlglot's parser accepts for them (None: no upper bound).
SAFE_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1), "ceil": (1, 1), "floor": (1, 1), "length": (1, 1), "lower": (1, 1),
    "trim": (1, 1), "upper": (1, 1), "round": (1, 2), "nullif": (2, 2), "strpos": (2, 2),
    "substr": (2, 3), "coalesce": (1, None), "concat": (1, None), "greatest": (1, None),
    "least": (1, None),
}  # fmt: skip
_AGGREGATES = frozenset({"avg", "count", "max", "min", "sum"})  # one argument, DISTINCT or not

# Trino's reserved words (Athena's engine), which sqlglot partly reads as plain names.
TRINO_RESERVED = frozenset(
    {
        "alter", "and", "as", "between", "by", "case", "cast", "constraint", "create", "cross",
        "cube", "current_catalog", "current_date", "current_path", "current_role",
        "current_schema", "current_time", "current_timestamp", "current_user", "deallocate",
        "delete", "describe", "distinct", "drop", "else", "end", "escape", "except", "execute",
        "exists", "extract", "false", "for", "from", "full", "group", "grouping", "having",
        "in", "inner", "insert", "intersect", "into", "is", "join", "json_array", "json_exists",
        "json_object", "json_query", "json_table", "json_value", "left", "like", "listagg",
        "localtime", "localtimestamp", "natural", "normalize", "not", "null", "on", "or",
        "order", "prepare", "recursive", "right", "rollup", "select", "skip", "table", "then",
        "trim", "true", "uescape", "union", "unnest", "using", "values", "when", "where",
        "with",
    }
)  # fmt: skip

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INTEGER = re.compile(r"[0-9]{1,18}\Z")  # an int64 like the engine's LIMIT
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?\Z")
_SPACE = re.compile(r"[ \t\r\n]+")  # the engine's whitespace
# Printable ASCII and that whitespace, without ``~`` and with ``!`` only in ``!=``.
_RAW = re.compile(r"(?:[\x22-\x7d \t\r\n]|!=)*")


# Reading an Enum member through its class costs about 0.1 µs each time and this
# module reads one per token, so it reads them from a plain namespace instead.
K = SimpleNamespace(**TokenType.__members__)

_COMPARISONS = frozenset({K.EQ, K.NEQ, K.LT, K.LTE, K.GT, K.GTE})
_ARITHMETIC = frozenset({K.PLUS, K.DASH, K.STAR, K.SLASH, K.MOD, K.DPIPE})
_PREDICATES = frozenset({K.NOT, K.LIKE, K.BETWEEN, K.IN, K.IS})
_LITERALS = frozenset({K.NUMBER, K.STRING, K.NULL, K.TRUE, K.FALSE})
_ALIASES = frozenset({K.VAR, K.IDENTIFIER})
_MAX_QUERY_NESTING = 32


class _NotPlain(Exception):
    """The query is outside the recognised shape: the full guard decides."""


class _Reading:
    """A recursive-descent pass over the tokens; ``_NotPlain`` as soon as one is off."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        # Token kinds with two sentinels, so looking one or two ahead needs no bounds check.
        self.kinds: list[TokenType | None] = [token.token_type for token in tokens]
        self.kinds += [None, None]
        self.at = 0
        self.tables: list[tuple[str, str]] = []  # (database, name) of real tables read
        self.ctes: frozenset[str] = frozenset()  # the CTE names visible where we are
        self.outer_limit: int | None = None  # index of the outer LIMIT's number token
        self.depth = 0  # queries open around the current token

    def take(self, expected: TokenType) -> Token:
        if self.kinds[self.at] is not expected:
            raise _NotPlain
        self.at += 1
        return self.tokens[self.at - 1]

    def skip(self, expected: TokenType) -> bool:
        if self.kinds[self.at] is expected:
            self.at += 1
            return True
        return False

    def name(self) -> str:
        """A plain name; the engine's reserved words are not names even where sqlglot
        reads them as one (``group``, ``cast``, ``current_path`` …)."""
        token = self.take(K.VAR)
        name = token.text.lower()
        if not _NAME.match(name) or name in TRINO_RESERVED:
            raise _NotPlain
        return name

    def word(self, *words: str) -> bool:
        """A VAR spelling one of ``words`` (NULLS, FIRST, LAST are not keywords)."""
        if self.kinds[self.at] is K.VAR and self.tokens[self.at].text.upper() in words:
            self.at += 1
            return True
        return False

    # ---------------------------------------------------------------- statements

    def query(self, *, outer: bool) -> None:
        self.depth += 1
        if self.depth > _MAX_QUERY_NESTING:
            raise _NotPlain  # the tree decides (and refuses what it cannot walk)
        around = self.ctes
        if self.skip(K.WITH):
            while True:
                name = self.name()
                self.take(K.ALIAS)
                self.take(K.L_PAREN)
                # A CTE's body sees only the CTEs before it, as the engine scopes them:
                # in ``WITH t AS (SELECT * FROM t)`` the body reads the real table t.
                self.query(outer=False)
                self.take(K.R_PAREN)
                self.ctes = self.ctes | {name}
                if not self.skip(K.COMMA):
                    break
        self.take(K.SELECT)
        self.skip(K.DISTINCT)
        self.items()
        self.take(K.FROM)
        self.source()
        if self.skip(K.WHERE):
            self.expr()
        if self.skip(K.GROUP_BY):
            self.exprs()
        if self.skip(K.HAVING):
            self.expr()
        if self.skip(K.ORDER_BY):
            self.order()
        if self.skip(K.LIMIT):
            number = self.take(K.NUMBER)
            if not _INTEGER.match(number.text):
                raise _NotPlain
            if outer:
                self.outer_limit = self.at - 1
        self.ctes = around  # this query's CTEs are not visible outside it
        self.depth -= 1

    def items(self) -> None:
        while True:
            if self.skip(K.STAR):
                pass
            elif self.kinds[self.at : self.at + 3] == [K.VAR, K.DOT, K.STAR]:
                self.name()
                self.at += 2
            else:
                self.expr()
                if self.skip(K.ALIAS) or self.kinds[self.at] in _ALIASES:
                    self.alias()
            if not self.skip(K.COMMA):
                return

    def alias(self) -> None:
        if self.kinds[self.at] is K.IDENTIFIER:
            self.at += 1
        else:
            self.name()

    def source(self) -> None:
        if self.skip(K.L_PAREN):
            self.query(outer=False)
            self.take(K.R_PAREN)
            if self.skip(K.ALIAS) or self.kinds[self.at] in _ALIASES:
                self.alias()
            return
        first = self.name()
        if self.skip(K.DOT):
            self.tables.append((first, self.name()))
        elif first not in self.ctes:
            self.tables.append(("", first))
        if self.skip(K.ALIAS) or self.kinds[self.at] is K.VAR:
            self.name()

    def order(self) -> None:
        while True:
            self.expr()
            if not self.skip(K.ASC):
                self.skip(K.DESC)
            if self.word("NULLS") and not self.word("FIRST", "LAST"):
                raise _NotPlain
            if not self.skip(K.COMMA):
                return

    # ---------------------------------------------------------------- expressions

    def exprs(self) -> None:
        self.expr()
        while self.skip(K.COMMA):
            self.expr()

    def expr(self) -> None:
        """Predicates joined by AND / OR, each optionally negated."""
        while True:
            while self.kinds[self.at] is K.NOT:
                self.at += 1
            self.predicate()
            if self.kinds[self.at] is not K.AND and self.kinds[self.at] is not K.OR:
                return
            self.at += 1

    def predicate(self) -> None:
        """An operand, then at most one comparison or LIKE, BETWEEN, IN or IS test."""
        self.operand()
        kind = self.kinds[self.at]
        if kind in _COMPARISONS:
            self.at += 1
            self.operand()
            return
        if kind not in _PREDICATES:
            return
        negated = self.skip(K.NOT)
        if self.skip(K.LIKE):
            self.operand()
        elif self.skip(K.BETWEEN):
            self.operand()
            self.take(K.AND)
            self.operand()
        elif self.skip(K.IN):
            self.take(K.L_PAREN)
            self.exprs()
            self.take(K.R_PAREN)
        elif negated:
            raise _NotPlain
        else:
            self.take(K.IS)
            self.skip(K.NOT)
            self.take(K.NULL)

    def operand(self) -> None:
        """Terms joined by arithmetic, which binds tighter than BETWEEN's AND."""
        self.term()
        while self.kinds[self.at] in _ARITHMETIC:
            self.at += 1
            self.term()

    def term(self) -> None:
        kinds = self.kinds
        while kinds[self.at] is K.DASH or kinds[self.at] is K.PLUS:
            self.at += 1
        kind = kinds[self.at]
        if kind is K.VAR:
            following = kinds[self.at + 1]
            if following is K.L_PAREN:
                self.call()
                return
            self.name()
            if following is K.DOT:
                self.column_tail()
        elif kind in _LITERALS:
            if kind is K.NUMBER and not _DECIMAL.match(self.tokens[self.at].text):
                raise _NotPlain
            self.at += 1
        elif kind is K.L_PAREN:
            self.at += 1
            self.expr()
            self.take(K.R_PAREN)
        elif kind is K.CASE:
            self.case()
        elif kind is K.IDENTIFIER:
            self.at += 1
            self.column_tail()
        else:
            raise _NotPlain

    def column_tail(self) -> None:
        for _ in range(2):  # table.column or db.table.column
            if not self.skip(K.DOT):
                return
            if not self.skip(K.IDENTIFIER):
                self.name()

    def call(self) -> None:
        # Not name(): TRIM is reserved in the engine's grammar and still a call there.
        function = self.take(K.VAR).text.lower()
        self.take(K.L_PAREN)
        if function in _AGGREGATES:
            if not (function == "count" and self.skip(K.STAR)):
                self.skip(K.DISTINCT)
                self.expr()
        elif function in SAFE_FUNCTIONS:
            least, most = SAFE_FUNCTIONS[function]
            count = 1
            self.expr()
            while self.skip(K.COMMA):
                self.expr()
                count += 1
            if count < least or (most is not None and count > most):
                raise _NotPlain
        else:
            raise _NotPlain
        self.take(K.R_PAREN)

    def case(self) -> None:
        self.take(K.CASE)
        if self.kinds[self.at] is not K.WHEN:
            self.expr()
        self.take(K.WHEN)
        while True:
            self.expr()
            self.take(K.THEN)
            self.expr()
            if not self.skip(K.WHEN):
                break
        if self.skip(K.ELSE):
            self.expr()
        self.take(K.END)


def _quoted_name(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _raw(sql: str, start: int, end: int) -> str:
    """``sql[start:end]`` to copy as it is: only text the engine lexes as sqlglot did."""
    text = sql[start:end]
    # sqlglot also reads ``!``, ``==`` and ``~~`` as NOT, = and LIKE, and Python's idea
    # of case and space (a long s for S, a no-break space in ORDER BY) inside keywords;
    # the engine does not.
    if "==" in text or not _RAW.fullmatch(text):
        raise _NotPlain
    return text


def _rebuild(sql: str, tokens: list[Token], limit_at: int | None, row_limit: int) -> str:
    """The text again from its tokens; only literals, quoted names and the LIMIT change."""
    parts: list[str] = []
    string, identifier, number = K.STRING, K.IDENTIFIER, K.NUMBER  # locals: a hot loop
    copied = end = 0  # sql[:copied] is in parts; sql[:end] has been checked
    after_number = False
    for index, token in enumerate(tokens):
        start = token.start
        if start != end:
            if not _SPACE.fullmatch(sql, end, start):
                raise _NotPlain  # skipped by the tokenizer, yet not whitespace
        elif after_number and (sql[start].isalnum() or sql[start] == "_"):
            raise _NotPlain  # ``1abc``: one (bad) token to the engine, two to sqlglot
        end = token.end + 1
        kind = token.token_type
        after_number = kind is number
        if kind is string:
            replacement = sql_literal(token.text)
        elif kind is identifier:
            replacement = _quoted_name(token.text)
        elif index == limit_at:
            replacement = str(min(int(token.text), row_limit))
        else:
            continue
        parts += (_raw(sql, copied, start), replacement)
        copied = end
    parts.append(_raw(sql, copied, end))
    if limit_at is None:
        parts.append(f"\nLIMIT {row_limit}")
    return "".join(parts)


def recognise(
    sql: str,
    tokens: list[Token],
    *,
    allowed: Collection[tuple[str, str]],
    database: str,
    row_limit: int,
) -> str | None:
    """The query ready to run when it has the plain shape and passes every rule, else None.

    ``tokens`` are the Presto tokenizer's for ``sql``; ``allowed`` holds the
    (database, table) pairs a query may read, ``database`` the one a bare name lives in.
    """
    if any(token.comments for token in tokens):
        return None
    if tokens and tokens[-1].token_type is K.SEMICOLON:
        tokens = tokens[:-1]
    if not tokens:
        return None
    reading = _Reading(tokens)
    try:
        reading.query(outer=True)
        if reading.at != len(tokens):
            return None
        if any((db or database.lower(), name) not in allowed for db, name in reading.tables):
            return None
        return _rebuild(sql, tokens, reading.outer_limit, row_limit)
    except (_NotPlain, RecursionError):  # deep nesting is the tree's to judge
        return None
