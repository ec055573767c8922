"""The local provider's SQL writer: the relevance-scoring query a model would write.

Every criterion taken from the opportunity becomes one weighted
``CASE WHEN lower(col) LIKE '%term%' THEN w ELSE 0 END`` term; their sum is the
``relevance_score`` the rows are ranked by. Opportunity text is data, never SQL: it is
reduced to safe tokens (letters, digits, spaces and `` &-./+'``) and every literal is
quoted with single quotes doubled, so no input can change the statement's shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.analysis.dataset import COLUMNS, COUNTRY_GEO
from services.common.domain import Opportunity

__all__ = [
    "KNOWN_PHRASES",
    "MAX_KEYWORDS",
    "REGION_CODES",
    "STOP_WORDS",
    "Geography",
    "extract_keywords",
    "generate_sql",
    "resolve_geography",
    "safe_text",
    "sql_literal",
]

MAX_KEYWORDS = 12
_MAX_TERM_CHARS = 60
_DATE_WINDOW_S = 730 * 86_400  # projects closed within two years weigh a little more
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_UNSAFE = re.compile(r"[^\w &\-./+']|_")
_REPEATED_SYMBOL = re.compile(r"([&\-./+'])\1+")

# Weights, highest for the criteria that best predict a similar spend profile.
_W_INDUSTRY, _W_ACTIVITY, _W_COUNTRY, _W_CUSTOMER = 20, 15, 12, 10
_W_SEGMENT, _W_SUB_REGION, _W_REGION, _W_FREE_GEO = 8, 8, 5, 8
_W_PHRASE, _W_WORD, _W_PHASE, _W_PARTNER, _W_RECENT = 6, 3, 4, 3, 2

# Multi-word technology terms kept whole: split into words they would match too much.
KNOWN_PHRASES = (
    "generative ai", "machine learning", "large language model", "data lake",
    "data warehouse", "data center", "call center", "contact center", "sql server",
    "windows server", "disaster recovery", "e-commerce", "sap hana", "s/4hana",
    "high performance computing", "real-time", "landing zone", "predictive maintenance",
    "virtual machines", "virtual desktops", "point of sale", "electronic health records",
    "supply chain", "core banking", "fraud detection", "medical imaging", "connected car",
    "on-prem", "on-premises",
)  # fmt: skip

_STOP_WORDS_TEXT = """
    a about above across after again against all also an and any are around as at be
    because been before being below between both but by can could did do does doing down
    during each few for from further had has have having he her here hers him his how i
    if in into is it its itself just me more most my no nor not now of off on once only
    onto or other our ours out over own per same she should so some such than that the
    their theirs them then there these they this those through to too under until up upon
    us very via was we were what when where which while who whom why will with within
    without would you your yours etc including include includes based using use used
    need needs want wants looking look plan plans planning new current existing
    customer customers company project projects opportunity solution solutions aws amazon
    cloud platform platforms service services environment help support team teams
    one two three four five six seven eight nine ten hundred thousand million
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

# AWS region codes → (country, sub_region); an opportunity's region may be given this way.
REGION_CODES: dict[str, tuple[str, str]] = {
    "us-east-1": ("United States", "US East"), "us-east-2": ("United States", "US East"),
    "us-west-1": ("United States", "US West"), "us-west-2": ("United States", "US West"),
    "us-gov-east-1": ("United States", "US East"),
    "us-gov-west-1": ("United States", "US West"),
    "ca-central-1": ("Canada", ""), "ca-west-1": ("Canada", ""),
    "eu-central-1": ("Germany", ""), "eu-central-2": ("Switzerland", ""),
    "eu-west-1": ("Ireland", ""), "eu-west-2": ("United Kingdom", ""),
    "eu-west-3": ("France", ""), "eu-north-1": ("Sweden", ""), "eu-south-1": ("Italy", ""),
    "eu-south-2": ("Spain", ""), "ap-southeast-2": ("Australia", ""),
    "ap-southeast-4": ("Australia", ""), "ap-southeast-6": ("New Zealand", ""),
    "ap-northeast-1": ("Japan", ""), "ap-northeast-3": ("Japan", ""),
    "ap-northeast-2": ("South Korea", ""), "ap-south-1": ("India", ""),
    "ap-south-2": ("India", ""), "ap-southeast-1": ("Singapore", ""),
    "ap-southeast-3": ("Indonesia", ""), "ap-southeast-5": ("Malaysia", ""),
    "sa-east-1": ("Brazil", ""), "mx-central-1": ("Mexico", ""),
    "me-central-1": ("United Arab Emirates", ""), "il-central-1": ("Israel", ""),
    "af-south-1": ("South Africa", ""),
}  # fmt: skip
# Prefixes of region codes not listed above (new regions) → broad region.
_REGION_CODE_PREFIXES = {
    "us": "North America", "ca": "North America", "eu": "Europe", "ap": "Asia Pacific",
    "sa": "Latin America", "mx": "Latin America", "me": "Middle East & Africa",
    "af": "Middle East & Africa", "il": "Middle East & Africa",
}  # fmt: skip
_REGION_CODE = re.compile(r"([a-z]{2})(-gov)?-[a-z]+-\d+")
_COUNTRY_ALIASES = {
    "us": "United States", "usa": "United States", "u.s.": "United States",
    "u.s.a.": "United States", "america": "United States", "uk": "United Kingdom",
    "great britain": "United Kingdom", "britain": "United Kingdom",
    "uae": "United Arab Emirates", "korea": "South Korea",
}  # fmt: skip
_REGION_ALIASES = {
    "na": ("North America",), "amer": ("North America",), "eu": ("Europe",),
    "emea": ("Europe", "Middle East & Africa"), "mea": ("Middle East & Africa",),
    "apac": ("Asia Pacific",), "apj": ("Asia Pacific",), "asia": ("Asia Pacific",),
    "latam": ("Latin America",), "lac": ("Latin America",),
}  # fmt: skip


def safe_text(value: str, max_chars: int = _MAX_TERM_CHARS) -> str:
    """Lowercase ``value`` reduced to letters, digits, spaces and `` &-./+'``.

    LIKE wildcards (``%``, ``_``) and every SQL punctuation mark vanish; what remains can
    only ever be the inside of a string literal.
    """
    text = _REPEATED_SYMBOL.sub(r"\1", _UNSAFE.sub(" ", value.lower()))
    return " ".join(text.split())[:max_chars].strip()


def sql_literal(value: str) -> str:
    """A Presto string literal: single quotes doubled, nothing else is special."""
    return "'" + value.replace("'", "''") + "'"


def _stem(word: str) -> str:
    # A plural matched as its singular also matches the singular ("databases" → "database").
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def extract_keywords(texts: Iterable[str], limit: int = MAX_KEYWORDS) -> list[str]:
    """Known technology phrases first, then distinctive words, deduplicated, at most ``limit``."""
    combined = " ".join(safe_text(text, max_chars=10_000) for text in texts)
    remainder = combined
    positions: list[tuple[int, str]] = []
    for phrase in KNOWN_PHRASES:
        # Whole words only ("data centers" yes, "on-premises" is not "on-prem"), plural too.
        pattern = rf"(?<![\w-]){re.escape(phrase)}s?(?![\w-])"
        match = re.search(pattern, combined)
        if match:
            positions.append((match.start(), phrase))
            remainder = re.sub(pattern, " ", remainder)
    found = [phrase for _, phrase in sorted(positions)]
    for word in re.findall(r"[^\W_]+", remainder):
        if len(word) < 3 or word.isdigit() or word in STOP_WORDS:
            continue
        stem = _stem(word)[:_MAX_TERM_CHARS]
        if stem not in found:
            found.append(stem)
    return found[:limit]


@dataclass(frozen=True)
class Geography:
    """What an opportunity's region says; ``free_text`` when nothing was recognised."""

    country: str = ""
    sub_region: str = ""
    regions: tuple[str, ...] = ()
    free_text: str = ""


def _named_geography(key: str) -> Geography | None:
    country = _COUNTRY_ALIASES.get(key) or next((c for c in COUNTRY_GEO if c.lower() == key), "")
    if country:
        return Geography(country=country, regions=(COUNTRY_GEO[country].region,))
    for geo in COUNTRY_GEO.values():
        if key == geo.region.lower():
            return Geography(regions=(geo.region,))
        if any(key == sub.lower() for sub in geo.sub_regions):
            sub = next(sub for sub in geo.sub_regions if sub.lower() == key)
            return Geography(sub_region=sub, regions=(geo.region,))
    if key in _REGION_ALIASES:
        return Geography(regions=_REGION_ALIASES[key])
    return None


def resolve_geography(region: str) -> Geography:
    """Interpret a country, sub-region, region, alias or AWS region code."""
    key = " ".join(region.lower().split())
    if key in REGION_CODES:
        country, sub_region = REGION_CODES[key]
        return Geography(country, sub_region, (COUNTRY_GEO[country].region,))
    code = _REGION_CODE.fullmatch(key)
    if code and code.group(1) in _REGION_CODE_PREFIXES:
        return Geography(regions=(_REGION_CODE_PREFIXES[code.group(1)],))
    return _named_geography(key) or Geography(free_text=safe_text(region))


def _like(column: str, term: str) -> str:
    return f"lower({column}) LIKE {sql_literal('%' + term + '%')}"


@dataclass(frozen=True)
class _Term:
    condition: str
    weight: int


def _geography_terms(region: str) -> list[_Term]:
    geo = resolve_geography(region)
    terms = []
    if geo.country:
        terms.append(_Term(_like("country", geo.country.lower()), _W_COUNTRY))
    if geo.sub_region:
        terms.append(_Term(_like("sub_region", geo.sub_region.lower()), _W_SUB_REGION))
    for name in geo.regions:
        terms.append(_Term(_like("region", name.lower()), _W_REGION))
    if geo.free_text:
        columns = ("country", "sub_region", "region")
        either = " OR ".join(_like(column, geo.free_text) for column in columns)
        terms.append(_Term(f"({either})", _W_FREE_GEO))
    return terms


def _keyword_terms(opportunity: Opportunity) -> list[_Term]:
    texts = (
        opportunity.description,
        opportunity.opportunity_name,
        opportunity.business_description,
        opportunity.activity_focus,
    )
    terms = []
    for keyword in extract_keywords(texts):
        either = f"{_like('description', keyword)} OR {_like('opportunity_name', keyword)}"
        weight = _W_PHRASE if " " in keyword or "-" in keyword else _W_WORD
        terms.append(_Term(f"({either})", weight))
    return terms


def _recency_term(close_date: str) -> list[_Term]:
    try:
        day = datetime.strptime(close_date.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return []  # validation happens upstream; an unreadable date just scores nothing
    epoch = int(day.timestamp())
    low, high = epoch - _DATE_WINDOW_S, epoch + _DATE_WINDOW_S
    return [_Term(f"close_date BETWEEN {low} AND {high}", _W_RECENT)]


def _field_terms(opportunity: Opportunity) -> list[_Term]:
    fields = (
        ("industry", opportunity.industry, _W_INDUSTRY),
        ("activity_name", opportunity.activity_focus, _W_ACTIVITY),
        ("customer_name", opportunity.customer_name, _W_CUSTOMER),
        ("customer_segment", opportunity.customer_segment, _W_SEGMENT),
        ("migration_phase", opportunity.migration_phase, _W_PHASE),
        ("partner_name", opportunity.partner_name, _W_PARTNER),
    )
    terms = []
    for column, value, weight in fields:
        term = safe_text(value)
        if len(term) >= 2:
            terms.append(_Term(_like(column, term), weight))
    return terms


def _terms(opportunity: Opportunity) -> list[_Term]:
    return [
        *_field_terms(opportunity),
        *_geography_terms(opportunity.region),
        *_keyword_terms(opportunity),
        *_recency_term(opportunity.close_date),
    ]


def _score_expression(terms: list[_Term]) -> str:
    if not terms:
        return "1"  # nothing to match on: every row ties and recency decides
    cases = [f"CASE WHEN {t.condition} THEN {t.weight} ELSE 0 END" for t in terms]
    return "\n      + ".join(cases)


def generate_sql(opportunity: Opportunity, row_limit: int, table: str = "parquet") -> str:
    """The ranked similar-projects query for ``opportunity``; at most ``row_limit`` rows."""
    if row_limit < 1:
        raise ValueError(f"row_limit must be positive, got {row_limit}")
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(f"table must be a plain or database-qualified name, got {table!r}")
    columns = ",\n    ".join(COLUMNS)
    score = _score_expression(_terms(opportunity))
    return (
        "WITH scored AS (\n"
        f"  SELECT\n    {columns},\n"
        f"    (\n      {score}\n    ) AS relevance_score\n"
        f"  FROM {table}\n"
        ")\n"
        "SELECT *\nFROM scored\nWHERE relevance_score > 0\n"
        "ORDER BY relevance_score DESC, close_date DESC\n"
        f"LIMIT {int(row_limit)}"
    )
