"""Turns the sectioned analysis text (from a model or the local engine) into an Analysis.

The parser is tolerant about layout and strict about values:

* Section markers may use spaces or underscores, any case and padding
  (``===SUMMARY METRICS===``, ``=== summary_metrics ===``); sections may come in any
  order. When a section appears twice, the first one wins.
* Metrics are read only from the SUMMARY METRICS section, so a "Total MRR:" inside a
  similar project can never be mistaken for the prediction.
* Amounts accept ``$1,800,000``, ``1800000 USD``, ``$1.8M``, ``$350K``. A range or a
  worded amount ("about two million") is malformed, not guessed.
* A value is never invented: each missing or malformed required field (PREDICTED_ARR,
  MRR, LAUNCH_DATE as YYYY-MM, PREDICTED_PROJECT_DURATION, TOP_SERVICES, CONFIDENCE)
  stays zero/empty and adds a readable entry to ``validation_errors``. A given but
  malformed CONFIDENCE_SCORE is reported too; an absent one is not (it is optional).
* OTHER_SERVICES becomes a last ServiceCost named ``"Other"`` (skipped when it is
  $0/month and $0 upfront or says None).
* Consistency checks: ARR must be within 1 % of MRR x 12 + the services' upfront sum,
  and at least three similar projects are expected.
* Lines of the text's own VALIDATION_ERRORS section are kept as entries (bullets
  stripped; "None" / "N/A" mean none), after the parser's own entries.

``parse_analysis`` never raises, whatever the string.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.common.domain import (
    Analysis,
    Architecture,
    Confidence,
    ServiceCost,
    SimilarProject,
)

__all__ = ["OTHER_SERVICES_NAME", "SECTIONS", "parse_amount", "parse_analysis"]

OTHER_SERVICES_NAME = "Other"

SECTIONS = (
    "ANALYSIS_METHODOLOGY",
    "SIMILAR_PROJECTS",
    "DETAILED_FINDINGS",
    "PREDICTION_RATIONALE",
    "RISK_FACTORS",
    "ARCHITECTURE_DESCRIPTION",
    "SUMMARY_METRICS",
    "VALIDATION_ERRORS",
)
# The model's own VALIDATION_ERRORS section is optional; every other one is expected.
_REQUIRED_SECTIONS = SECTIONS[:-1]
_MIN_SIMILAR_PROJECTS = 3
_ARR_TOLERANCE = Decimal("0.01")

# Possessive quantifiers keep long space runs linear (no backtracking into the name).
_MARKER = re.compile(r"^[ \t>*#]*={2,}[ \t]*+([A-Za-z][A-Za-z0-9 \t_-]*+)={2,}[ \t*#]*$", re.M)
# The bullet match always succeeds and is never revisited, so the possessive "*+" only
# spares the engine its backtracking bookkeeping.
_BULLET_PATTERN = r"\s*(?:[-*•>]+\s*|\d{1,3}[.)]\s+)*+"
_BULLET = re.compile("^" + _BULLET_PATTERN)
# A label line is a bullet, then "label: value", read in one match. The atomic group
# cuts the bullet off exactly where _BULLET does (greedy, never revisited), and leaves no
# leading whitespace; the trailing whitespace _clean would strip is in the value, which
# is stripped anyway. The label is greedy, as a lazy one costs a try per character: it
# may keep spaces before the colon, which _normalize_key drops like the "_" they become.
_LABEL_LINE = re.compile("(?>" + _BULLET_PATTERN + r")([A-Za-z][A-Za-z0-9 _/()-]{0,48})\s*:\s*(.*)")
# What may not follow a leading value: a range ("$1M - $2M", "6 to 9") or more digits.
_RANGE_TAIL_PATTERN = r"\s*(?:[-\u2013\u2014~]|to\b|or\b)\s*\$?\s*\d|[,.]\d"
_RANGE_TAIL = re.compile(f"^(?:{_RANGE_TAIL_PATTERN})", re.I)
# The amount, then the range check as a lookahead: one match instead of two. The atomic
# group keeps the amount as matched alone; a range after it fails the whole match
# instead of sending the engine back for a shorter amount. "(?=[kmbt])" lets most
# amounts (no suffix) skip the seven suffix words at a single character test.
_AMOUNT = re.compile(
    r"(?>(?:US\$|USD)?\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d{1,15})(\.\d{1,6})?"
    r"\s*(?:(?=[kmbt])(k|mm|m|b|thousand|million|billion))?(?![A-Za-z0-9]))"
    f"(?!{_RANGE_TAIL_PATTERN})",
    re.I,
)
_MULTIPLIERS = {"k": 10**3, "thousand": 10**3, "m": 10**6, "mm": 10**6, "million": 10**6}
_MULTIPLIERS |= {"b": 10**9, "billion": 10**9}
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?(?!\d)")
_DURATION = re.compile(r"^(\d{1,3}(?:\.\d{1,3})?)\s*(months?|mos?\b|years?|yrs?)?", re.I)
_CONFIDENCE = re.compile(r"^(HIGH|MEDIUM|LOW)\b(?!\s*[-/]\s*(?:HIGH|MEDIUM|LOW))", re.I)
_SCORE = re.compile(r"^(\d{1,3})(?:\.\d+)?\s*(?:%|/\s*100)?")
_NONE_WORDS = {"none", "n/a", "na", "nil", "no errors", "no validation errors", "-", ""}
_PROJECT_HEADER = re.compile(
    r"^\s*(?:(?:-{2,}|#{1,6}|\*\*)\s*project\s*#?\s*\d{1,3}\b.*"
    r"|project\s*#?\s*\d{1,3}\s*[:.]?)\s*$",
    re.I,
)


# --- sections -----------------------------------------------------------------------


_NOTE = re.compile(r"\(.*?\)")
_NOT_KEY_CHARS = re.compile(r"[^A-Z0-9]+")


@functools.lru_cache(maxsize=1024)
def _normalize_key(raw: str) -> str:
    # Runs for every label line of every answer; the labels of one answer and the next
    # are mostly the same few dozen, so a bounded cache answers most of them.
    without_notes = _NOTE.sub(" ", raw)
    return _NOT_KEY_CHARS.sub("_", without_notes.upper()).strip("_")


# How every marker line but the first line of the text starts. Its leading literal
# newline lets the engine skip ahead quickly, where _MARKER's multiline "^" makes
# finditer try a match at every offset of the text.
_MARKER_LINE_START = re.compile(r"\n[ \t>*#]*==")


def _find_markers(text: str) -> list[re.Match[str]]:
    """The matches of ``_MARKER.finditer(text)``, trying only lines that may hold one.

    A marker cannot span a newline and covers its whole line, so it starts the text or
    follows a newline; _MARKER.match at a line start then finds the very same match."""
    markers: list[re.Match[str]] = []
    first = _MARKER.match(text)
    if first is not None:
        markers.append(first)
    for line_start in _MARKER_LINE_START.finditer(text):
        marker = _MARKER.match(text, line_start.start() + 1)
        if marker is not None:
            markers.append(marker)
    return markers


_SECTION_NAMES = frozenset(SECTIONS)


def _split_sections(text: str) -> dict[str, str]:
    """Body of each known section by canonical name; unknown markers still end a section."""
    sections: dict[str, str] = {}
    markers = _find_markers(text)
    for index, marker in enumerate(markers):
        name = _normalize_key(marker.group(1))
        end = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        if name in _SECTION_NAMES and name not in sections:
            sections[name] = text[marker.end() : end].strip()
    return sections


def _without_markup(line: str) -> str:
    """``line`` without bold markers and backticks."""
    if "**" in line:
        line = line.replace("**", "")
    if "`" in line:
        line = line.replace("`", "")
    return line


def _clean(line: str) -> str:
    """A line without list bullets, numbering, bold markers or backticks."""
    line = _without_markup(line)
    if line[:1].isalpha():
        return line.strip()  # the usual case: a letter cannot start a bullet
    # _BULLET is anchored and matches the empty string too: cut its match off the front.
    bullet = _BULLET.match(line)
    return (line[bullet.end() :] if bullet else line).strip()


def _key_value(line: str) -> tuple[str, str] | None:
    if ":" not in line:
        return None  # the common case in prose; a label needs a colon
    # _LABEL_LINE does _clean's bullet cut and strip itself.
    match = _LABEL_LINE.match(_without_markup(line))
    if match is None:
        return None
    label, value = match.groups()
    return _normalize_key(label), value.strip()


def _quote(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


# --- values -------------------------------------------------------------------------


def parse_amount(text: str) -> int | None:
    """Whole dollars of a single leading amount, or None when there is none or a range."""
    match = _AMOUNT.match(text.strip())
    if match is None:
        return None
    digits, fraction, suffix = match.groups()
    multiplier = _MULTIPLIERS[suffix.lower()] if suffix else 1
    whole = int(digits.replace(",", "")) if "," in digits else int(digits)
    if fraction is None:
        return whole * multiplier  # exact: nothing to round (the usual "$135,000")
    amount = Decimal(f"{whole}{fraction}") * multiplier
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _parse_month(text: str) -> str | None:
    value = text.strip()
    match = _MONTH.match(value)
    if match is None or _RANGE_TAIL.match(value[match.end() :]):
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (1900 <= year <= 2200 and 1 <= month <= 12):
        return None
    if match.group(3) is not None:
        try:
            date(year, month, int(match.group(3)))
        except ValueError:
            return None
    return f"{year:04d}-{month:02d}"


def _parse_duration(text: str) -> int | None:
    value = text.strip()
    match = _DURATION.match(value)
    if match is None or _RANGE_TAIL.match(value[match.end() :]):
        return None
    number, unit = match.group(1, 2)
    per_unit = 12 if (unit or "").lower().startswith("y") else 1
    if "." in number:
        amount = Decimal(number) * per_unit
        months = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    else:
        months = int(number) * per_unit  # exact: nothing to round (the usual "6 months")
    return months if months >= 1 else None


def _parse_service(line: str) -> ServiceCost | None:
    """``name|$m/month|$u upfront``; the upfront part may be missing (then 0)."""
    parts = _clean(line).split("|")
    name = parts[0].strip()
    if len(parts) < 2 or not name:
        return None
    # parse_amount strips the amounts itself.
    monthly = parse_amount(parts[1])
    upfront = parse_amount(parts[2]) if len(parts) > 2 and parts[2].strip() else 0
    if monthly is None or upfront is None:
        return None
    return ServiceCost(name=name, monthly_usd=monthly, upfront_usd=upfront)


# --- summary metrics ----------------------------------------------------------------

_SUMMARY_KEYS = {
    "PREDICTED_ARR": "arr",
    "ARR": "arr",
    "MRR": "mrr",
    "PREDICTED_MRR": "mrr",
    "LAUNCH_DATE": "launch",
    "PREDICTED_LAUNCH_DATE": "launch",
    "PREDICTED_PROJECT_DURATION": "duration",
    "PROJECT_DURATION": "duration",
    "TOP_SERVICES": "top",
    "OTHER_SERVICES": "other",
    "CONFIDENCE": "confidence",
    "CONFIDENCE_LEVEL": "confidence",
    "CONFIDENCE_SCORE": "score",
}


@dataclass
class _RawSummary:
    values: dict[str, str] = field(default_factory=dict)
    service_lines: list[str] = field(default_factory=list)


def _collect_summary(body: str) -> _RawSummary:
    raw = _RawSummary()
    current = ""
    for line in body.splitlines():
        pair = _key_value(line)
        known = _SUMMARY_KEYS.get(pair[0]) if pair else None
        if pair is not None and known is not None:
            current = known
            raw.values.setdefault(known, pair[1])
            if known == "top" and pair[1]:
                raw.service_lines.append(pair[1])
        elif current == "top" and _clean(line):
            if pair is not None and "|" not in line:
                current = ""  # an unrelated "Note: ..." line ends the list
            else:
                raw.service_lines.append(line)
    return raw


@dataclass
class _Metrics:
    arr: int = 0
    mrr: int = 0
    launch: str = ""
    duration: int = 0
    services: list[ServiceCost] = field(default_factory=list)
    confidence: Confidence = Confidence.UNSPECIFIED
    score: int = 0
    errors: list[str] = field(default_factory=list)


_LABELS = {
    "arr": "PREDICTED_ARR",
    "mrr": "MRR",
    "launch": "LAUNCH_DATE",
    "duration": "PREDICTED_PROJECT_DURATION",
    "top": "TOP_SERVICES",
    "confidence": "CONFIDENCE",
}


def _required(raw: _RawSummary, key: str, metrics: _Metrics) -> str | None:
    value = raw.values.get(key)
    if value is None or (not value and key != "top"):
        metrics.errors.append(f"{_LABELS[key]} is missing from SUMMARY METRICS")
        return None
    return value


def _read_amounts(raw: _RawSummary, metrics: _Metrics) -> None:
    for key in ("arr", "mrr"):
        value = _required(raw, key, metrics)
        if value is None:
            continue
        amount = parse_amount(value)
        if amount is None:
            metrics.errors.append(f"{_LABELS[key]} is not a dollar amount: {_quote(value)}")
        elif key == "arr":
            metrics.arr = amount
        else:
            metrics.mrr = amount


def _read_schedule(raw: _RawSummary, metrics: _Metrics) -> None:
    launch = _required(raw, "launch", metrics)
    if launch is not None:
        month = _parse_month(launch)
        if month is None:
            metrics.errors.append(f"LAUNCH_DATE is not a YYYY-MM month: {_quote(launch)}")
        metrics.launch = month or ""
    duration = _required(raw, "duration", metrics)
    if duration is not None:
        months = _parse_duration(duration)
        if months is None:
            metrics.errors.append(
                f"PREDICTED_PROJECT_DURATION is not a number of months: {_quote(duration)}"
            )
        metrics.duration = months or 0


def _read_services(raw: _RawSummary, metrics: _Metrics) -> None:
    if _required(raw, "top", metrics) is None:
        return
    for line in raw.service_lines:
        service = _parse_service(line)
        if service is None:
            metrics.errors.append(
                "TOP_SERVICES line is not 'name|$monthly/month|$upfront upfront': "
                + _quote(_clean(line))
            )
        else:
            metrics.services.append(service)
    if not metrics.services:
        metrics.errors.append("TOP_SERVICES lists no services")
    _read_other(raw.values.get("other", ""), metrics)


def _read_other(value: str, metrics: _Metrics) -> None:
    if value.strip().lower().rstrip(".") in _NONE_WORDS:
        return
    parts = value.split("|")
    # "Combined|$5,000/month|$0 upfront" keeps the label first; "$5,000/month" has none.
    line = value if len(parts) > 1 and parse_amount(parts[0]) is None else "Other|" + value
    service = _parse_service(line)
    if service is None:
        metrics.errors.append(f"OTHER_SERVICES is not '$monthly/month|$upfront': {_quote(value)}")
    elif service.monthly_usd or service.upfront_usd:
        metrics.services.append(
            ServiceCost(OTHER_SERVICES_NAME, service.monthly_usd, service.upfront_usd)
        )


def _read_confidence(raw: _RawSummary, metrics: _Metrics) -> None:
    value = _required(raw, "confidence", metrics)
    if value is not None:
        match = _CONFIDENCE.match(value)
        if match is None:
            metrics.errors.append(f"CONFIDENCE is not HIGH, MEDIUM or LOW: {_quote(value)}")
        else:
            metrics.confidence = Confidence(match.group(1).upper())
    score = raw.values.get("score")
    if score:
        match = _SCORE.match(score.strip())
        if match is None or int(match.group(1)) > 100:
            metrics.errors.append(f"CONFIDENCE_SCORE is not a number 0-100: {_quote(score)}")
        else:
            metrics.score = int(match.group(1))


def _read_metrics(sections: dict[str, str]) -> _Metrics:
    raw = _collect_summary(sections.get("SUMMARY_METRICS", ""))
    metrics = _Metrics()
    _read_amounts(raw, metrics)
    _read_schedule(raw, metrics)
    _read_services(raw, metrics)
    _read_confidence(raw, metrics)
    return metrics


# --- similar projects ---------------------------------------------------------------

_PROJECT_FIELDS = {
    "PROJECT_NAME": "project_name",
    "NAME": "project_name",
    "OPPORTUNITY_NAME": "project_name",
    "CUSTOMER": "customer",
    "CUSTOMER_NAME": "customer",
    "INDUSTRY": "industry",
    "REGION": "region",
    "CLOSE_DATE": "close_date",
    "TOTAL_MRR": "total_mrr_usd",
    "MRR": "total_mrr_usd",
    "TOTAL_ARR": "total_arr_usd",
    "ARR": "total_arr_usd",
    "DESCRIPTION": "description",
    "SERVICES": "services",
}


@dataclass
class _ProjectDraft:
    values: dict[str, str] = field(default_factory=dict)
    services: list[ServiceCost] = field(default_factory=list)

    def build(self) -> SimilarProject:
        get = self.values.get
        return SimilarProject(
            project_name=get("project_name", ""),
            customer=get("customer", ""),
            industry=get("industry", ""),
            region=get("region", ""),
            close_date=get("close_date", ""),
            total_mrr_usd=parse_amount(get("total_mrr_usd", "")) or 0,
            total_arr_usd=parse_amount(get("total_arr_usd", "")) or 0,
            services=tuple(self.services),
            description=get("description", ""),
        )


def _add_services(draft: _ProjectDraft, text: str) -> None:
    for part in text.split(";"):
        service = _parse_service(part)
        if service is not None:
            draft.services.append(service)


def _parse_projects(body: str) -> list[SimilarProject]:
    """Best effort: blocks start at a "--- Project N ---" header, or at a Project Name
    when the current block already has one; unparseable fields are left empty."""
    drafts: list[_ProjectDraft] = []
    in_services = False
    for line in body.splitlines():
        # Every header says "project" (in ASCII letters, whatever the case); most lines
        # don't, and the lower() + "in" test is cheaper than the regex.
        if "project" in line.lower() and _PROJECT_HEADER.match(line):
            drafts.append(_ProjectDraft())
            in_services = False
            continue
        pair = _key_value(line)
        name = _PROJECT_FIELDS.get(pair[0]) if pair else None
        if pair is not None and name is not None:
            if not drafts or (name == "project_name" and name in drafts[-1].values):
                drafts.append(_ProjectDraft())
            in_services = name == "services"
            if in_services:
                _add_services(drafts[-1], pair[1])
            else:
                drafts[-1].values.setdefault(name, pair[1])
        elif in_services and "|" in line:
            _add_services(drafts[-1], line)
        elif pair is not None:
            in_services = False
    return [draft.build() for draft in drafts]


# --- architecture, free text, model errors ------------------------------------------

_ARCHITECTURE_LABELS = {
    "NETWORK_FOUNDATION": "network_foundation",
    "COMPUTE_LAYER": "compute_layer",
    "DATA_LAYER": "data_layer",
    "SECURITY_COMPONENTS": "security_components",
    "INTEGRATION_POINTS": "integration_points",
    "SCALING_ELEMENTS": "scaling_elements",
    "MANAGEMENT_TOOLS": "management_tools",
    "COMPLETE_ARCHITECTURE": "complete_architecture",
}
# Labels written one after another on a single line are split onto their own lines.
_INLINE_LABEL = re.compile(r"(?<![ \t])[ \t]++(?=(?:" + "|".join(_ARCHITECTURE_LABELS) + r")\s*:)")
# _INLINE_LABEL only matches a space or tab right before a label (case-sensitive), so
# without one of these the substitution, which scans every offset, would change nothing.
_INLINE_LABEL_NEEDLES = tuple(blank + label for label in _ARCHITECTURE_LABELS for blank in " \t")


def _split_inline_labels(body: str) -> str:
    if any(needle in body for needle in _INLINE_LABEL_NEEDLES):
        return _INLINE_LABEL.sub("\n", body)
    return body


def _parse_architecture(body: str) -> Architecture:
    parts: dict[str, list[str]] = {}
    current = ""
    for line in _split_inline_labels(body).splitlines():
        pair = _key_value(line)
        label = _ARCHITECTURE_LABELS.get(pair[0]) if pair else None
        if pair is not None and label is not None:
            current = label
            parts.setdefault(label, []).append(pair[1])
        elif current:
            parts[current].append(line.strip())
    return Architecture(**{k: "\n".join(v).strip() for k, v in parts.items()})


def _model_errors(body: str) -> list[str]:
    entries = []
    for line in body.splitlines():
        entry = _clean(line)
        if entry.lower().rstrip(".") not in _NONE_WORDS:
            entries.append(entry)
    return entries


def _consistency(metrics: _Metrics, projects: list[SimilarProject]) -> list[str]:
    errors = []
    if metrics.arr and metrics.mrr:
        upfront = sum(service.upfront_usd for service in metrics.services)
        expected = metrics.mrr * 12 + upfront
        if abs(Decimal(metrics.arr - expected)) > _ARR_TOLERANCE * metrics.arr:
            errors.append(
                f"PREDICTED_ARR (${metrics.arr:,}) differs by more than 1% from "
                f"MRR x 12 + upfront (${expected:,})"
            )
    if len(projects) < _MIN_SIMILAR_PROJECTS:
        errors.append(
            f"only {len(projects)} similar project(s) given; "
            f"at least {_MIN_SIMILAR_PROJECTS} are expected"
        )
    return errors


def parse_analysis(text: str) -> Analysis:
    """The Analysis in ``text``; see the module docstring for the rules. Never raises."""
    sections = _split_sections(text)
    errors = [] if text.strip() else ["the analysis text is empty"]
    errors += [
        f"{name.replace('_', ' ')} section is missing"
        for name in _REQUIRED_SECTIONS
        if name not in sections
    ]
    metrics = _read_metrics(sections)
    projects = _parse_projects(sections.get("SIMILAR_PROJECTS", ""))
    errors += metrics.errors + _consistency(metrics, projects)
    errors += _model_errors(sections.get("VALIDATION_ERRORS", ""))
    return Analysis(
        predicted_arr_usd=metrics.arr,
        predicted_mrr_usd=metrics.mrr,
        launch_date=metrics.launch,
        project_duration_months=metrics.duration,
        confidence=metrics.confidence,
        confidence_score=metrics.score,
        top_services=tuple(metrics.services),
        similar_projects=tuple(projects),
        methodology=sections.get("ANALYSIS_METHODOLOGY", ""),
        findings=sections.get("DETAILED_FINDINGS", ""),
        rationale=sections.get("PREDICTION_RATIONALE", ""),
        risk_factors=sections.get("RISK_FACTORS", ""),
        architecture=_parse_architecture(sections.get("ARCHITECTURE_DESCRIPTION", "")),
        validation_errors=tuple(errors),
        full_text=text,
    )
