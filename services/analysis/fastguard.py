"""The SQL guard's fast path: the common query shape checked on tokens, without a tree.

A model asked for the scoring query writes nearly always the same shape: an optional
WITH, SELECTs over one table or a CTE, CASE/LIKE arithmetic, WHERE, GROUP BY, ORDER BY
and LIMIT. Parsing that into sqlglot's tree, walking it and writing it out again costs
about 2 ms of the event loop per analysis, most of the service's own time. This module
recognises that shape straight from the tokens (``fastlex``'s, which are sqlglot's where
it answers) with a small grammar that is a strict subset of Presto SQL:

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

What the engine runs is what was checked: the text as written, up to its last token,
with the outer LIMIT added or clamped. ``fastlex`` answers only for text the engine
lexes as sqlglot does (no comments, no spellings only sqlglot knows such as ``!`` or
``==``, no number run into a word, string literals and quoted names as the engine quotes
them), so nothing needs rebuilding. That rests on fastlex's own tests (its tokens are
sqlglot's, and what sqlglot and the engine read apart is declined); the tests here hold
the grammar to the tree.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlglot.tokenizer_core import TokenType

from services.analysis import fastlex

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

_INTEGER = re.compile(r"[0-9]{1,18}\Z")  # an int64 like the engine's LIMIT
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?\Z")

# Token kinds as module globals: the grammar reads several per token, and a global costs
# about 3 ns to read where a namespace attribute costs 20 and an Enum member via its class 80.
_T = TokenType
VAR, IDENTIFIER, NUMBER, STRING = _T.VAR, _T.IDENTIFIER, _T.NUMBER, _T.STRING
NULL, TRUE, FALSE = _T.NULL, _T.TRUE, _T.FALSE
L_PAREN, R_PAREN, COMMA, DOT, SEMICOLON = _T.L_PAREN, _T.R_PAREN, _T.COMMA, _T.DOT, _T.SEMICOLON
PLUS, DASH, STAR, SLASH, MOD, DPIPE = _T.PLUS, _T.DASH, _T.STAR, _T.SLASH, _T.MOD, _T.DPIPE
EQ, NEQ, LT, LTE, GT, GTE = _T.EQ, _T.NEQ, _T.LT, _T.LTE, _T.GT, _T.GTE
AND, OR, NOT, LIKE, BETWEEN, IN, IS = _T.AND, _T.OR, _T.NOT, _T.LIKE, _T.BETWEEN, _T.IN, _T.IS
WITH, ALIAS, SELECT, DISTINCT, FROM = _T.WITH, _T.ALIAS, _T.SELECT, _T.DISTINCT, _T.FROM
WHERE, GROUP_BY, HAVING, ORDER_BY, LIMIT = _T.WHERE, _T.GROUP_BY, _T.HAVING, _T.ORDER_BY, _T.LIMIT
ASC, DESC = _T.ASC, _T.DESC
CASE, WHEN, THEN, ELSE, END = _T.CASE, _T.WHEN, _T.THEN, _T.ELSE, _T.END

_COMPARISONS = frozenset({EQ, NEQ, LT, LTE, GT, GTE})
_ARITHMETIC = frozenset({PLUS, DASH, STAR, SLASH, MOD, DPIPE})
_PREDICATES = frozenset({NOT, LIKE, BETWEEN, IN, IS})
_LITERALS = frozenset({NUMBER, STRING, NULL, TRUE, FALSE})
_ALIASES = frozenset({VAR, IDENTIFIER})
_MAX_QUERY_NESTING = 32
# Expressions open in one another (parentheses, CASE, call arguments, IN lists) and prefix
# NOTs and signs (each one a level of the engine's grammar, and of sqlglot's parser) before
# the tree decides. A bound, not Python's recursion limit: this pass nests fewer calls per
# level than the engine's grammar has levels, so running out of stack is no limit here.
_MAX_EXPR_NESTING = 128


class _NotPlain(Exception):
    """The query is outside the recognised shape: the full guard decides."""


class _Reading:
    """A recursive-descent pass over the tokens; ``_NotPlain`` as soon as one is off."""

    def __init__(self, kinds: list[TokenType], texts: list[str]) -> None:
        self.texts = texts
        # Token kinds with two sentinels, so looking one or two ahead needs no bounds check.
        self.kinds: list[TokenType | None] = [*kinds, None, None]
        self.at = 0
        self.tables: list[tuple[str, str]] = []  # (database, name) of real tables read
        self.ctes: frozenset[str] = frozenset()  # the CTE names visible where we are
        self.outer_limit: int | None = None  # the outer LIMIT, when the query has one
        self.depth = 0  # queries open around the current token
        self.nesting = 0  # expressions open around the current token

    def take(self, expected: TokenType) -> str:
        """The text of the token here, which must be of kind ``expected``."""
        if self.kinds[self.at] is not expected:
            raise _NotPlain
        self.at += 1
        return self.texts[self.at - 1]

    def skip(self, expected: TokenType) -> bool:
        if self.kinds[self.at] is expected:
            self.at += 1
            return True
        return False

    def name(self) -> str:
        """A plain name; the engine's reserved words are not names even where sqlglot
        reads them as one (``group``, ``cast``, ``current_path`` …)."""
        at = self.at
        if self.kinds[at] is not VAR:
            raise _NotPlain
        text = self.texts[at]
        # fastlex's words are ASCII identifiers; checked again (cheaply, without a regex)
        # because lower() turns some non-ASCII letters (the Kelvin sign) into ASCII.
        if not (text.isascii() and text.isidentifier()):
            raise _NotPlain
        name = text.lower()
        if name in TRINO_RESERVED:
            raise _NotPlain
        self.at = at + 1
        return name

    def word(self, *words: str) -> bool:
        """A VAR spelling one of ``words`` (NULLS, FIRST, LAST are not keywords)."""
        if self.kinds[self.at] is VAR and self.texts[self.at].upper() in words:
            self.at += 1
            return True
        return False

    # ---------------------------------------------------------------- statements

    def query(self, *, outer: bool) -> None:
        self.depth += 1
        if self.depth > _MAX_QUERY_NESTING:
            raise _NotPlain  # the tree decides (and refuses what it cannot walk)
        around = self.ctes
        if self.skip(WITH):
            while True:
                name = self.name()
                self.take(ALIAS)
                self.take(L_PAREN)
                # A CTE's body sees only the CTEs before it, as the engine scopes them:
                # in ``WITH t AS (SELECT * FROM t)`` the body reads the real table t.
                self.query(outer=False)
                self.take(R_PAREN)
                self.ctes = self.ctes | {name}
                if not self.skip(COMMA):
                    break
        self.take(SELECT)
        self.skip(DISTINCT)
        self.items()
        self.take(FROM)
        self.source()
        if self.skip(WHERE):
            self.expr()
        if self.skip(GROUP_BY):
            self.exprs()
        if self.skip(HAVING):
            self.expr()
        if self.skip(ORDER_BY):
            self.order()
        if self.skip(LIMIT):
            number = self.take(NUMBER)
            if not _INTEGER.match(number):
                raise _NotPlain
            if outer:
                self.outer_limit = int(number)
        self.ctes = around  # this query's CTEs are not visible outside it
        self.depth -= 1

    def items(self) -> None:
        kinds = self.kinds
        while True:
            kind, following = kinds[self.at], kinds[self.at + 1]
            if kind is VAR and following is COMMA:
                # A bare column, the commonest item, read as expr() would read it; and its comma.
                self.name()
                self.at += 1  # the comma looked at above
                continue
            if kind is STAR:
                self.at += 1
            elif kind is VAR and following is DOT and kinds[self.at + 2] is STAR:
                self.name()
                self.at += 2
            else:
                self.expr()
                if self.skip(ALIAS) or kinds[self.at] in _ALIASES:
                    self.alias()
            if not self.skip(COMMA):
                return

    def alias(self) -> None:
        if self.kinds[self.at] is IDENTIFIER:
            self.at += 1
        else:
            self.name()

    def source(self) -> None:
        if self.skip(L_PAREN):
            self.query(outer=False)
            self.take(R_PAREN)
            if self.skip(ALIAS) or self.kinds[self.at] in _ALIASES:
                self.alias()
            return
        first = self.name()
        if self.skip(DOT):
            self.tables.append((first, self.name()))
        elif first not in self.ctes:
            self.tables.append(("", first))
        if self.skip(ALIAS) or self.kinds[self.at] is VAR:
            self.name()

    def order(self) -> None:
        while True:
            self.expr()
            if not self.skip(ASC):
                self.skip(DESC)
            if self.word("NULLS") and not self.word("FIRST", "LAST"):
                raise _NotPlain
            if not self.skip(COMMA):
                return

    # ---------------------------------------------------------------- expressions
    # One call per predicate (expr) and one per operand (operand): the engine's levels
    # (boolean, predicate, arithmetic, term) are loops and branches inside them, as
    # this pass runs a few Python calls per token on the event loop.

    def exprs(self) -> None:
        self.expr()
        while self.skip(COMMA):
            self.expr()

    def expr(self) -> None:
        """Predicates joined by AND / OR, each optionally negated. A predicate is an
        operand, then at most one comparison or LIKE, BETWEEN, IN or IS test."""
        self.deeper()
        kinds = self.kinds
        while True:
            depth = self.nesting
            while kinds[self.at] is NOT:
                self.at += 1
                self.deeper()  # NOT NOT … a nests as deeply as parentheses
            self.operand()
            kind = kinds[self.at]
            if kind in _COMPARISONS:
                self.at += 1
                self.operand()
                kind = kinds[self.at]
            elif kind in _PREDICATES:
                self.predicate_tail()
                kind = kinds[self.at]
            self.nesting = depth
            if kind is not AND and kind is not OR:
                self.nesting -= 1
                return
            self.at += 1

    def deeper(self) -> None:
        """One more level of nesting, within the bound the tree can still walk."""
        self.nesting += 1
        if self.nesting > _MAX_EXPR_NESTING:
            raise _NotPlain

    def predicate_tail(self) -> None:
        """[NOT] LIKE operand, [NOT] BETWEEN operand AND operand, [NOT] IN (exprs) or
        IS [NOT] NULL, after an operand."""
        negated = self.skip(NOT)
        if self.skip(LIKE):
            self.operand()
        elif self.skip(BETWEEN):
            self.operand()
            self.take(AND)
            self.operand()
        elif self.skip(IN):
            self.take(L_PAREN)
            self.exprs()
            self.take(R_PAREN)
        elif negated:
            raise _NotPlain
        else:
            self.take(IS)
            self.skip(NOT)
            self.take(NULL)

    def operand(self) -> None:
        """Terms joined by arithmetic, which binds tighter than BETWEEN's AND. A term is
        a column, a literal, a call, ( expr ) or CASE … END after any unary + or -."""
        kinds = self.kinds
        while True:
            depth = self.nesting
            kind = kinds[self.at]
            while kind is DASH or kind is PLUS:
                self.at += 1
                self.deeper()  # so does - - … 1
                kind = kinds[self.at]
            if kind is VAR:
                following = kinds[self.at + 1]
                if following is L_PAREN:
                    self.call()
                else:
                    self.name()
                    if following is DOT:
                        self.column_tail()
            elif kind in _LITERALS:
                if kind is NUMBER and not _DECIMAL.match(self.texts[self.at]):
                    raise _NotPlain
                self.at += 1
            elif kind is L_PAREN:
                self.at += 1
                self.expr()
                self.take(R_PAREN)
            elif kind is CASE:
                self.case()
            elif kind is IDENTIFIER:
                self.at += 1
                self.column_tail()
            else:
                raise _NotPlain
            self.nesting = depth
            if kinds[self.at] not in _ARITHMETIC:
                return
            self.at += 1

    def column_tail(self) -> None:
        for _ in range(2):  # table.column or db.table.column
            if not self.skip(DOT):
                return
            if not self.skip(IDENTIFIER):
                self.name()

    def call(self) -> None:
        """At a VAR followed by ``(`` (operand() has looked): a call of a safe function."""
        # Not name(): TRIM is reserved in the engine's grammar and still a call there.
        function = self.texts[self.at].lower()
        self.at += 2
        if function in _AGGREGATES:
            if not (function == "count" and self.skip(STAR)):
                self.skip(DISTINCT)
                self.expr()
        elif function in SAFE_FUNCTIONS:
            least, most = SAFE_FUNCTIONS[function]
            count = 1
            self.expr()
            while self.skip(COMMA):
                self.expr()
                count += 1
            if count < least or (most is not None and count > most):
                raise _NotPlain
        else:
            raise _NotPlain
        self.take(R_PAREN)

    def case(self) -> None:
        """At CASE (operand() has looked): CASE [expr] WHEN expr THEN expr … [ELSE expr] END."""
        self.at += 1
        if self.kinds[self.at] is not WHEN:
            self.expr()
        self.take(WHEN)
        while True:
            self.expr()
            self.take(THEN)
            self.expr()
            if not self.skip(WHEN):
                break
        if self.skip(ELSE):
            self.expr()
        self.take(END)


def _settle_limit(sql: str, outer_limit: int | None, row_limit: int) -> str:
    """``sql`` as written, up to its last token, with the outer LIMIT added or clamped.

    The outer LIMIT's number, when there is one, is the query's last token: the reading
    ended there (bar a semicolon)."""
    body = sql.rstrip(fastlex.WHITESPACE)
    if body.endswith(";"):
        body = body[:-1].rstrip(fastlex.WHITESPACE)
    if outer_limit is None:
        return f"{body}\nLIMIT {row_limit}"
    return body.rstrip("0123456789") + str(min(outer_limit, row_limit))


def recognise(
    sql: str,
    *,
    allowed: Collection[tuple[str, str]],
    database: str,
    row_limit: int,
) -> str | None:
    """The query ready to run when it has the plain shape and passes every rule, else None.

    ``allowed`` holds the (database, table) pairs a query may read, ``database`` the one
    a bare name lives in.
    """
    lexed = fastlex.lex(sql)
    if lexed is None:
        return None
    kinds, texts = lexed
    if kinds and kinds[-1] is SEMICOLON:
        del kinds[-1], texts[-1]
    if not kinds:
        return None
    reading = _Reading(kinds, texts)
    try:
        reading.query(outer=True)
        if reading.at != len(kinds):
            return None
        if any((db or database.lower(), name) not in allowed for db, name in reading.tables):
            return None
    except (_NotPlain, RecursionError):  # deep nesting is the tree's to judge
        return None
    return _settle_limit(sql, reading.outer_limit, row_limit)
