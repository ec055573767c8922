"""The SQL guard's fast path lexer: the Presto tokens of plain text, or None.

sqlglot's tokenizer builds a Token object (and a comment list) for every token: about
half of the fast path's time, and most of the young objects that set the cyclic
collector off during an analysis. This lexer reads the few kinds of token the plain
query shape is made of with one regular expression, into two lists of plain values:

* words (``[A-Za-z_][A-Za-z0-9_]*``), numbers (``1``, ``2.5``, ``3.``), string literals
  (``'…'``, quotes doubled) and quoted names (``"…"``, quotes doubled);
* ``( ) , . ; + - * / % = < > <> <= >= != ||``;
* the engine's whitespace (space, tab, CR, LF) between them.

Anything else, and anything that sqlglot or the engine might read another way, is not
guessed at: ``lex`` answers None and the full guard decides. That covers comments, any
other character outside quotes (``!``, ``|``, ``$``, ``@``, ``~``, non-ASCII …), a number
run into a word, a dot or a quote (``1e3``, ``1abc``, ``1..2``), a dot before a digit
(``.5``), a word run into a quote (``X'1F'``, ``U&'…'``), an empty quoted name, an
operator that starts a longer one sqlglot knows (``<=>``, ``->``, ``==``), a word that
starts a keyword sqlglot reads across several words or signs (``SORT BY``, ``DOUBLE
PRECISION``, ``USER-DEFINED``; GROUP BY and ORDER BY excepted), and command words (``SHOW``,
``EXECUTE``, ``CALL`` …), after which sqlglot reads the rest as one string.

Where it answers, its tokens are sqlglot's (kind and text; keywords come from the Presto
tokenizer's own table), which the tests check on thousands of queries; and the engine
reads that text the same way, so what the fast path checked can run as it was written.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot.tokenizer_core import TokenType

__all__ = ["WHITESPACE", "lex"]

WHITESPACE = " \t\r\n"  # the engine's, and the only whitespace between tokens lexed here

_TOKENIZER = sqlglot.Dialect.get_or_raise("presto").tokenizer_class
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Upper-case word → kind, for the words sqlglot reads as keywords; any other word is a VAR.
_KEYWORDS = {key: kind for key, kind in _TOKENIZER.KEYWORDS.items() if _WORD.fullmatch(key)}
# sqlglot reads GROUP BY and ORDER BY as one token each, whatever whitespace is between.
_PAIRS = {"GROUP": TokenType.GROUP_BY, "ORDER": TokenType.ORDER_BY}
# Words that start any other keyword made of more than a word, and command words (SHOW,
# EXECUTE, CALL …), after which sqlglot reads the rest of the statement as one STRING.
_DECLINED_WORDS = (
    frozenset(
        match.group().upper()
        for key in _TOKENIZER.KEYWORDS
        if (match := _WORD.match(key)) and match.group() != key
    )
    - _PAIRS.keys()
) | {word for word, kind in _KEYWORDS.items() if kind in _TOKENIZER.COMMANDS}

_OPERATORS: dict[str, TokenType] = {
    "<>": TokenType.NEQ,
    "!=": TokenType.NEQ,
    "<=": TokenType.LTE,
    ">=": TokenType.GTE,
    "||": TokenType.DPIPE,
    **{char: _TOKENIZER.SINGLE_TOKENS[char] for char in "()+-*/%,.;=<>"},
}
# Operator text followed by a character that starts a longer sign sqlglot knows, or a
# comment, is not an operator here: each alternative says which characters may not follow.
_STARTS = {
    key[:end] for key in [*_TOKENIZER.KEYWORDS, "--", "/*"] if not key[0].isalnum()
    for end in range(2, len(key) + 1)
}  # fmt: skip


def _operator(text: str) -> str:
    followers = sorted({start[-1] for start in _STARTS if start[:-1] == text})
    if text == ".":
        followers += "0123456789"  # the engine reads ``.5`` as one number, sqlglot as two tokens
    if not followers:
        return re.escape(text)
    return re.escape(text) + "(?![" + "".join(re.escape(c) for c in followers) + "])"


# One token after any whitespace, by group: word, operator, string, number, quoted name,
# or any other character (declined). Possessive loops: nothing to backtrack into.
_SPACE = "[" + re.escape(WHITESPACE) + "]"
_TOKEN = re.compile(
    _SPACE + r"*+(?:"
    r"([A-Za-z_][A-Za-z0-9_]*+)(?![$'\"&])"
    r"|(" + "|".join(map(_operator, sorted(_OPERATORS, key=len, reverse=True))) + ")"
    r"|('[^']*+(?:''[^']*+)*+')"
    r"|([0-9]++(?:\.[0-9]*+)?+)(?![A-Za-z0-9_.$'\"])"
    r"|(\"[^\"]*+(?:\"\"[^\"]*+)*+\")"
    r"|([^" + re.escape(WHITESPACE) + "]))"
)

VAR, NUMBER, STRING, IDENTIFIER = (
    TokenType.VAR,
    TokenType.NUMBER,
    TokenType.STRING,
    TokenType.IDENTIFIER,
)


def lex(sql: str) -> tuple[list[TokenType], list[str]] | None:
    """The kinds and texts of ``sql``'s tokens as sqlglot's Presto tokenizer reads them
    (the text of a string or a quoted name is its value), or None if it is not plain."""
    kinds: list[TokenType] = []
    texts: list[str] = []
    keyword = _KEYWORDS.get
    for word, operator, string, number, quoted, _ in _TOKEN.findall(sql):
        if word:
            upper = word.upper()
            if upper in _DECLINED_WORDS:
                return None
            if upper == "BY" and kinds and kinds[-1] is VAR:
                before = texts[-1].upper()
                if before in _PAIRS:
                    kinds[-1] = _PAIRS[before]
                    texts[-1] = before + " BY"
                    continue
            kinds.append(keyword(upper, VAR))
            texts.append(word)
        elif operator:
            kinds.append(_OPERATORS[operator])
            texts.append(operator)
        elif string:
            kinds.append(STRING)
            texts.append(string[1:-1].replace("''", "'"))
        elif number:
            kinds.append(NUMBER)
            texts.append(number)
        elif len(quoted) > 2:  # "" names nothing
            kinds.append(IDENTIFIER)
            texts.append(quoted[1:-1].replace('""', '"'))
        else:
            return None
    return kinds, texts
