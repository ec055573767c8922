"""The local statistical engine: writes the sectioned analysis text a model would.

Everything is deterministic and relevance-weighted: a row weighs its
``relevance_score`` (a row without a positive score weighs nothing, unless no row of
the subset has one, then all weigh the same). A row is *costed* when at least one of
its services has a monthly cost.

* MRR is the weighted median of the costed rows' monthly service totals, upfront the
  weighted median of their upfront totals. No scaling is applied: the rows were already
  retrieved as the opportunity's closest matches. ARR = MRR x 12 + upfront, exactly.
* Top services rank by relevance-weighted cost (monthly + upfront / 12); the top four
  are listed and the rest combined as OTHER_SERVICES. MRR and upfront are split across
  them in proportion to each one's weighted share of spend in the matches, by largest
  remainder, so the listed amounts sum exactly to MRR and to upfront.
* Launch month = the opportunity's close month (today's month when the close date is
  unreadable) + the weighted median gap between the rows' close and planned delivery
  start dates, at least one month. Duration = the weighted median planned delivery
  length in whole months, at least one.
* Similar projects are the three most relevant rows (distinct opportunity_id) with
  their recorded values; Total ARR is annual_run_rate_usd when present, else
  MRR x 12 + upfront. Dates may be dates, ISO strings or Unix epoch seconds.
* CONFIDENCE_SCORE = round(40 x min(1, n / 8) + 60 x (1 - QCD)), n = number of costed
  rows, QCD = (Q3 - Q1) / (Q3 + Q1) of their monthly totals (weighted quartiles);
  capped at 59 below three costed rows, 0 without any. Bands: HIGH >= 80,
  MEDIUM 60-79, LOW < 60.

Nothing is invented. A figure without evidence (no costed rows, no delivery dates) is
left out of SUMMARY METRICS and explained under VALIDATION_ERRORS, so the parser flags
it. With no rows at all every section is still written, with CONFIDENCE LOW, score 0
and no prediction figures: there is no defensible prior to fall back on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from services.common.domain import Confidence, Opportunity

__all__ = ["HIGH_MIN_SCORE", "MEDIUM_MIN_SCORE", "confidence_for", "write_analysis"]

HIGH_MIN_SCORE = 80
MEDIUM_MIN_SCORE = 60
_MAX_SERVICE_SLOTS = 10
_TOP_SERVICES = 4
_SIMILAR_PROJECTS = 3
_FULL_COVERAGE_ROWS = 8
_DAYS_PER_MONTH = 30.4375
_STALE_YEARS = 3
_WIDE_QCD = 0.35


# --- reading rows -------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.replace(",", "").replace("$", "").strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _date(value: object) -> date | None:
    """A date from a date, an ISO string, or Unix epoch seconds (milliseconds when huge)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _inline(value: object) -> str:
    """One line of text: row values must not break the sectioned layout."""
    return "" if value is None else " ".join(str(value).split())


@dataclass(frozen=True)
class _Service:
    name: str
    monthly: float
    upfront: float


@dataclass(frozen=True)
class _Row:
    raw: Mapping[str, object]
    score: float
    services: tuple[_Service, ...]
    costed: bool

    def text(self, key: str) -> str:
        return _inline(self.raw.get(key))

    def day(self, key: str) -> date | None:
        return _date(self.raw.get(key))

    @property
    def monthly_total(self) -> float:
        return sum(service.monthly for service in self.services)

    @property
    def upfront_total(self) -> float:
        return sum(service.upfront for service in self.services)


def _load(raw: Mapping[str, object]) -> _Row:
    services: list[_Service] = []
    costed = False
    for slot in range(1, _MAX_SERVICE_SLOTS + 1):
        name = _inline(raw.get(f"service{slot}_name")).replace("|", "/")
        if not name:
            continue
        monthly = _number(raw.get(f"service{slot}_monthly_cost"))
        upfront = _number(raw.get(f"service{slot}_upfront_cost"))
        costed = costed or monthly is not None
        services.append(_Service(name, max(monthly or 0.0, 0.0), max(upfront or 0.0, 0.0)))
    score = max(_number(raw.get("relevance_score")) or 0.0, 0.0)
    return _Row(raw, score, tuple(services), costed)


# --- statistics ---------------------------------------------------------------------


def _weights(rows: Sequence[_Row]) -> list[float]:
    scores = [row.score for row in rows]
    return scores if sum(scores) > 0 else [1.0] * len(rows)


def _quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """Lower weighted quantile: the first value whose cumulative weight reaches q."""
    ordered = sorted(zip(values, weights, strict=True))
    threshold = q * sum(weights)
    cumulative = 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= threshold - 1e-9:
            return value
    return ordered[-1][0]


def _round(value: float) -> int:
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class _Costs:
    count: int
    mrr: int
    upfront: int
    low: float
    q1: float
    q3: float
    high: float
    qcd: float


def _costs(costed: Sequence[_Row]) -> _Costs | None:
    if not costed:
        return None
    weights = _weights(costed)
    monthly = [row.monthly_total for row in costed]
    q1, q3 = _quantile(monthly, weights, 0.25), _quantile(monthly, weights, 0.75)
    return _Costs(
        count=len(costed),
        mrr=_round(_quantile(monthly, weights, 0.5)),
        upfront=_round(_quantile([row.upfront_total for row in costed], weights, 0.5)),
        low=min(monthly),
        q1=q1,
        q3=q3,
        high=max(monthly),
        qcd=(q3 - q1) / (q3 + q1) if q3 + q1 > 0 else 1.0,
    )


def confidence_for(costs_count: int, qcd: float) -> tuple[Confidence, int]:
    """Band and 0-100 score from the number of costed matches and their dispersion."""
    if costs_count == 0:
        return Confidence.LOW, 0
    coverage = min(1.0, costs_count / _FULL_COVERAGE_ROWS)
    score = _round(40 * coverage + 60 * (1 - min(max(qcd, 0.0), 1.0)))
    if costs_count < _SIMILAR_PROJECTS:
        score = min(score, MEDIUM_MIN_SCORE - 1)
    if score >= HIGH_MIN_SCORE:
        return Confidence.HIGH, score
    return (Confidence.MEDIUM if score >= MEDIUM_MIN_SCORE else Confidence.LOW), score


def _months(days: float) -> int:
    return max(1, _round(days / _DAYS_PER_MONTH))


def _median_gap(rows: Sequence[_Row], start_key: str, end_key: str) -> tuple[int, int] | None:
    """Weighted median months between two dates of each row, and how many rows had both."""
    dated: list[tuple[_Row, float]] = []
    for row in rows:
        start, end = row.day(start_key), row.day(end_key)
        if start is not None and end is not None:
            dated.append((row, float((end - start).days)))
    if not dated:
        return None
    weights = _weights([row for row, _ in dated])
    return _months(_quantile([days for _, days in dated], weights, 0.5)), len(dated)


def _month_after(start: date, months: int) -> str:
    index = start.year * 12 + start.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- services -----------------------------------------------------------------------


@dataclass
class _ServiceStat:
    name: str
    projects: int = 0
    monthly: float = 0.0  # relevance-weighted monthly spend across rows
    upfront: float = 0.0

    @property
    def rank(self) -> float:
        return self.monthly + self.upfront / 12


def _service_stats(rows: Sequence[_Row]) -> list[_ServiceStat]:
    """Per service (case-insensitive), the first spelling seen, ranked by weighted cost."""
    stats: dict[str, _ServiceStat] = {}
    for row, weight in zip(rows, _weights(rows), strict=True):
        seen: set[str] = set()
        for service in row.services:
            key = service.name.casefold()
            stat = stats.setdefault(key, _ServiceStat(service.name))
            stat.monthly += weight * service.monthly
            stat.upfront += weight * service.upfront
            if key not in seen:
                stat.projects += 1
                seen.add(key)
    return sorted(stats.values(), key=lambda s: (-s.rank, -s.projects, s.name.casefold()))


def _apportion(total: int, shares: Sequence[float]) -> list[int]:
    """Whole dollars in proportion to ``shares`` that sum exactly to ``total``."""
    if sum(shares) <= 0:
        # No per-service spend to go by: split evenly over the listed services.
        shares = [1.0] * (len(shares) - 1) + [0.0]
    scale = sum(shares)
    exact = [total * share / scale for share in shares]
    parts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return parts


@dataclass(frozen=True)
class _Line:
    name: str
    monthly: int
    upfront: int


def _split(stats: Sequence[_ServiceStat], mrr: int, upfront: int) -> list[_Line]:
    """The top services and, last, the combined rest (named "Combined")."""
    top = [stat for stat in stats if stat.rank > 0][:_TOP_SERVICES]
    rest = [stat for stat in stats if stat not in top]
    if not top:
        return []
    monthly = _apportion(mrr, [s.monthly for s in top] + [sum(s.monthly for s in rest)])
    up = _apportion(upfront, [s.upfront for s in top] + [sum(s.upfront for s in rest)])
    names = [stat.name for stat in top] + ["Combined"]
    return [_Line(n, m, u) for n, m, u in zip(names, monthly, up, strict=True)]


# --- the facts the text is written from ---------------------------------------------


@dataclass(frozen=True)
class _Facts:
    opportunity: Opportunity
    today: date
    rows: tuple[_Row, ...]
    costs: _Costs | None
    stats: tuple[_ServiceStat, ...]
    lines: tuple[_Line, ...]
    anchor: date
    close_readable: bool
    lag: tuple[int, int] | None
    duration: tuple[int, int] | None
    confidence: Confidence
    score: int

    @property
    def arr(self) -> int:
        return self.costs.mrr * 12 + self.costs.upfront if self.costs else 0

    @property
    def launch(self) -> str | None:
        return _month_after(self.anchor, self.lag[0]) if self.lag else None


def _gather(
    opportunity: Opportunity, raw_rows: Sequence[Mapping[str, object]], today: date
) -> _Facts:
    # Stable sort: equal scores keep retrieval order.
    rows = tuple(sorted((_load(raw) for raw in raw_rows), key=lambda row: -row.score))
    costed = [row for row in rows if row.costed]
    costs = _costs(costed)
    stats = _service_stats(costed)
    close = _date(opportunity.close_date)
    confidence, score = confidence_for(costs.count if costs else 0, costs.qcd if costs else 1)
    return _Facts(
        opportunity=opportunity,
        today=today,
        rows=rows,
        costs=costs,
        stats=tuple(stats),
        lines=tuple(_split(stats, costs.mrr, costs.upfront)) if costs else (),
        anchor=close or today,
        close_readable=close is not None,
        lag=_median_gap(rows, "close_date", "planned_delivery_start_date"),
        duration=_median_gap(rows, "planned_delivery_start_date", "planned_delivery_end_date"),
        confidence=confidence,
        score=score,
    )


# --- writing ------------------------------------------------------------------------


def _usd(amount: float) -> str:
    return f"${_round(amount):,}"


def _counts(values: Sequence[str], limit: int = 5) -> str:
    tally: dict[str, int] = {}
    for value in values:
        if value:
            tally[value] = tally.get(value, 0) + 1
    ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return ", ".join(f"{name} ({count})" for name, count in ranked)


def _methodology(f: _Facts) -> str:
    o = f.opportunity
    subject = (
        f"{_inline(o.opportunity_name)} for {_inline(o.customer_name)} "
        f"({_inline(o.region)}, closing {_inline(o.close_date)})"
    )
    if not f.rows:
        return (
            f"Statistical estimate by the local engine for {subject}, as of {f.today}. "
            "No historical projects matched, so no figures were estimated: the engine "
            "predicts only from matched history and has no prior to fall back on."
        )
    costed = f.costs.count if f.costs else 0
    return (
        f"Statistical estimate by the local engine for {subject}, as of {f.today}. "
        f"{len(f.rows)} historical projects were retrieved; {costed} record per-service "
        "costs. Each project is weighted by its relevance score. MRR is the weighted "
        "median of the projects' monthly service totals, upfront cost the weighted median "
        "of their upfront totals, and ARR = MRR x 12 + upfront. The launch month adds the "
        "weighted median gap between past close dates and planned delivery starts to the "
        "opportunity's close month; duration is the weighted median planned delivery "
        "length. Confidence combines the number of costed matches with the spread "
        "(quartile coefficient of dispersion) of their monthly totals."
    )


def _similar_block(number: int, row: _Row) -> list[str]:
    lines = [f"--- Project {number} ---"]
    labels = (
        ("Project Name", "opportunity_name"),
        ("Customer", "customer_name"),
        ("Industry", "industry"),
        ("Region", "region"),
    )
    lines += [f"- {label}: {row.text(key)}" for label, key in labels if row.text(key)]
    closed = row.day("close_date")
    if closed is not None:
        lines.append(f"- Close Date: {closed}")
    arr = _number(row.raw.get("annual_run_rate_usd"))
    if row.costed:
        lines.append(f"- Total MRR: {_usd(row.monthly_total)}")
        arr = arr if arr is not None else row.monthly_total * 12 + row.upfront_total
    if arr is not None:
        lines.append(f"- Total ARR: {_usd(arr)}")
    if row.services:
        lines.append("- Services:")
        lines += [
            f"  - {s.name}|{_usd(s.monthly)}/month|{_usd(s.upfront)} upfront" for s in row.services
        ]
    if row.text("description"):
        lines.append(f"- Description: {row.text('description')[:240]}")
    if row.score:
        lines.append(f"- Relevance Score: {row.score:g}")
    return lines


def _similar(f: _Facts) -> str:
    chosen: list[_Row] = []
    seen_ids: set[str] = set()
    for row in f.rows:
        key = row.text("opportunity_id")
        if key and key in seen_ids:
            continue
        seen_ids.add(key)
        chosen.append(row)
        if len(chosen) == _SIMILAR_PROJECTS:
            break
    if not chosen:
        return "No similar projects were found."
    blocks = [_similar_block(number, row) for number, row in enumerate(chosen, start=1)]
    return "\n\n".join("\n".join(block) for block in blocks)


def _findings(f: _Facts) -> str:
    if not f.rows:
        return "No historical data was available for this opportunity."
    parts: list[str] = []
    if f.costs:
        c = f.costs
        parts.append(
            f"Monthly service totals across the {c.count} costed matches run from "
            f"{_usd(c.low)} to {_usd(c.high)}; weighted quartiles {_usd(c.q1)} / "
            f"{_usd(c.mrr)} / {_usd(c.q3)}. Upfront totals have a weighted median of "
            f"{_usd(c.upfront)}."
        )
        common = sorted(f.stats, key=lambda s: (-s.projects, s.name.casefold()))[:5]
        parts.append(
            "Most common services: "
            + ", ".join(f"{s.name} ({s.projects} of {c.count})" for s in common)
            + "."
        )
    else:
        parts.append(f"None of the {len(f.rows)} matched projects records service costs.")
    industries = _counts([row.text("industry") for row in f.rows])
    if industries:
        parts.append(f"Industries among the matches: {industries}.")
    parts.append(_region_finding(f))
    parts.append(_delivery_finding(f))
    return "\n\n".join(part for part in parts if part)


def _region_finding(f: _Facts) -> str:
    region = _inline(f.opportunity.region)
    same = sum(1 for row in f.rows if row.text("region").casefold() == region.casefold())
    return f"{same} of {len(f.rows)} matches are in the opportunity's region ({region})."


def _delivery_finding(f: _Facts) -> str:
    lag = (
        f"{f.lag[1]} matches record close and delivery-start dates (weighted median gap "
        f"{f.lag[0]} months)"
        if f.lag
        else "No match records both a close and a delivery-start date"
    )
    span = (
        f"{f.duration[1]} record a planned delivery length (weighted median {f.duration[0]} months)"
        if f.duration
        else "none records a planned delivery length"
    )
    return f"{lag}; {span}."


def _rationale(f: _Facts) -> str:
    if not f.rows:
        return "No prediction was made because no comparable historical projects were found."
    parts: list[str] = []
    if f.costs:
        c = f.costs
        parts.append(
            f"MRR {_usd(c.mrr)} is the relevance-weighted median monthly total of {c.count} "
            f"costed matches and upfront {_usd(c.upfront)} the weighted median upfront "
            f"total, so ARR = {_usd(c.mrr)} x 12 + {_usd(c.upfront)} = {_usd(f.arr)}. "
            "Each top service's share of MRR and upfront is its weighted share of spend in "
            "the matches; the remaining services are combined under OTHER_SERVICES."
        )
    else:
        parts.append("No MRR, ARR or service split is given: no match records service costs.")
    if f.lag and f.launch:
        parts.append(
            f"Launch {f.launch} is the {'close' if f.close_readable else 'current'} month "
            f"{f.anchor:%Y-%m} plus the weighted median gap of {f.lag[0]} month(s) from "
            f"{f.lag[1]} matches."
        )
    if f.duration:
        parts.append(
            f"Duration {f.duration[0]} months is the weighted median planned delivery "
            f"length of {f.duration[1]} matches."
        )
    parts.append(
        f"Confidence {f.confidence.value} (score {f.score}/100) reflects "
        f"{f.costs.count if f.costs else 0} costed matches and a dispersion (QCD) of "
        f"{f.costs.qcd if f.costs else 1.0:.2f}; bands are HIGH >= {HIGH_MIN_SCORE}, "
        f"MEDIUM >= {MEDIUM_MIN_SCORE}, LOW below."
    )
    return "\n\n".join(parts)


def _risks(f: _Facts) -> list[str]:
    if not f.rows:
        return ["No comparable historical projects: nothing could be estimated from history."]
    risks: list[str] = []
    costed = f.costs.count if f.costs else 0
    if costed == 0:
        risks.append("No match records service costs; cost figures could not be estimated.")
    elif costed < _SIMILAR_PROJECTS:
        risks.append(f"Only {costed} match(es) with cost data; the estimate is weakly supported.")
    if f.costs and f.costs.qcd >= _WIDE_QCD:
        risks.append(
            f"Monthly totals of the matches vary widely (QCD {f.costs.qcd:.2f}); the "
            "actual MRR may differ substantially from the median."
        )
    if not f.close_readable:
        risks.append(
            f"The close date {_inline(f.opportunity.close_date)!r} is not a date; "
            "the launch month is counted from the current month."
        )
    elif f.anchor < f.today:
        risks.append(f"The close date {f.anchor} is already past ({f.today}).")
    risks += _staleness(f)
    risks.append(
        "Historical costs reflect past usage and prices; the opportunity's own "
        "description was not used to adjust the figures."
    )
    return risks


def _staleness(f: _Facts) -> list[str]:
    closes = sorted(d for d in (row.day("close_date") for row in f.rows) if d is not None)
    if not closes:
        return []
    median = closes[(len(closes) - 1) // 2]
    if (f.today - median).days <= 365 * _STALE_YEARS:
        return []
    return [
        f"Half of the matches closed on or before {median}, more than {_STALE_YEARS} years "
        f"before {f.today}; prices and service mix may have changed."
    ]


_LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("NETWORK_FOUNDATION", "networking", ("vpc", "cloudfront", "route 53", "direct connect",
     "transit gateway", "load balancing", "load balancer", "elb", "global accelerator", "vpn",
     "privatelink", "network firewall")),
    ("COMPUTE_LAYER", "compute", ("ec2", "lambda", "ecs", "eks", "fargate", "batch",
     "lightsail", "elastic beanstalk", "app runner", "sagemaker", "bedrock", "outposts")),
    ("DATA_LAYER", "data", ("rds", "aurora", "dynamodb", "s3", "redshift", "elasticache",
     "glue", "athena", "emr", "opensearch", "documentdb", "neptune", "lake formation", "efs",
     "fsx", "timestream", "memorydb", "keyspaces", "quicksight")),
    ("SECURITY_COMPONENTS", "security", ("iam", "kms", "waf", "shield", "guardduty",
     "security hub", "cognito", "secrets manager", "macie", "inspector", "certificate manager",
     "network firewall", "identity center", "detective")),
    ("INTEGRATION_POINTS", "integration", ("api gateway", "sqs", "sns", "eventbridge",
     "step functions", "kinesis", "msk", "appsync", "mq", "transfer family", "dms",
     "database migration", "datasync", "appflow", "storage gateway")),
    ("SCALING_ELEMENTS", "scaling", ("auto scaling", "load balancing", "load balancer", "elb",
     "cloudfront", "elasticache", "dynamodb", "aurora", "fargate", "lambda",
     "global accelerator")),
    ("MANAGEMENT_TOOLS", "management", ("cloudwatch", "cloudtrail", "config",
     "systems manager", "cloudformation", "organizations", "control tower", "trusted advisor",
     "backup", "cost explorer", "support", "x-ray", "service catalog")),
)  # fmt: skip


def _layer_members(stats: Sequence[_ServiceStat], keywords: Sequence[str]) -> list[_ServiceStat]:
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, keywords)) + r")\b", re.I)
    return [stat for stat in stats if pattern.search(stat.name)]


def _architecture(f: _Facts) -> str:
    stats = _service_stats(f.rows)  # all matches, costed or not
    total = len(f.rows)
    lines: list[str] = []
    present: list[str] = []
    for label, layer, keywords in _LAYERS:
        members = sorted(_layer_members(stats, keywords), key=lambda s: -s.projects)[:5]
        if not f.rows:
            lines.append(f"{label}: Not derived: no historical projects matched.")
        elif members:
            present.append(layer)
            listed = ", ".join(f"{s.name} (in {s.projects} of {total} matches)" for s in members)
            lines.append(f"{label}: Based on the matched projects: {listed}.")
        else:
            lines.append(
                f"{label}: No {layer} services appear in the matched projects; this layer is "
                "not derived from history."
            )
    lines.append(f"COMPLETE_ARCHITECTURE: {_complete_architecture(f, present)}")
    return "\n".join(lines)


def _complete_architecture(f: _Facts, present: Sequence[str]) -> str:
    if not f.rows:
        return "Not derived: no historical projects matched."
    if not present:
        return "Not derived: the matched projects list no recognised services."
    core = ", ".join(line.name for line in f.lines if line.name != "Combined")
    spend = f" Most of the predicted spend goes to {core}." if core else ""
    return (
        f"For {_inline(f.opportunity.customer_name)}, the matched projects combine "
        f"{', '.join(present)} layers.{spend}"
    )


def _summary(f: _Facts) -> str:
    lines: list[str] = []
    if f.costs:
        lines += [f"PREDICTED_ARR: {_usd(f.arr)}", f"MRR: {_usd(f.costs.mrr)}"]
    if f.launch:
        lines.append(f"LAUNCH_DATE: {f.launch}")
    if f.duration:
        lines.append(f"PREDICTED_PROJECT_DURATION: {f.duration[0]} months")
    if f.lines:
        lines.append("TOP_SERVICES:")
        lines += [
            f"{x.name}|{_usd(x.monthly)}/month|{_usd(x.upfront)} upfront" for x in f.lines[:-1]
        ]
        other = f.lines[-1]
        lines.append(
            f"OTHER_SERVICES: Combined|{_usd(other.monthly)}/month|{_usd(other.upfront)} upfront"
        )
    lines += [f"CONFIDENCE: {f.confidence.value}", f"CONFIDENCE_SCORE: {f.score}"]
    return "\n".join(lines)


def _notes(f: _Facts) -> list[str]:
    """What the engine could not estimate, in its own words."""
    if not f.rows:
        return [
            "No historical projects matched the opportunity; PREDICTED_ARR, MRR, "
            "LAUNCH_DATE, PREDICTED_PROJECT_DURATION and TOP_SERVICES were not estimated."
        ]
    notes: list[str] = []
    if not f.costs:
        notes.append(
            "No match records service costs; "
            "PREDICTED_ARR, MRR and TOP_SERVICES were not estimated."
        )
    elif not f.lines:
        notes.append("The matches record no service spend; TOP_SERVICES was not estimated.")
    if not f.lag:
        notes.append(
            "No match records close and delivery-start dates; LAUNCH_DATE was not estimated."
        )
    if not f.duration:
        notes.append(
            "No match records a planned delivery length; "
            "PREDICTED_PROJECT_DURATION was not estimated."
        )
    return notes


def _bullets(items: Sequence[str], empty: str) -> str:
    return "\n".join(f"- {item}" for item in items) if items else empty


def write_analysis(
    opportunity: Opportunity, rows: Sequence[Mapping[str, object]], *, today: date
) -> str:
    """The sectioned analysis text for ``opportunity`` from retrieved ``rows``."""
    f = _gather(opportunity, rows, today)
    sections = (
        ("ANALYSIS METHODOLOGY", _methodology(f)),
        ("SIMILAR PROJECTS", _similar(f)),
        ("DETAILED FINDINGS", _findings(f)),
        ("PREDICTION RATIONALE", _rationale(f)),
        ("RISK FACTORS", _bullets(_risks(f), "- None identified.")),
        ("ARCHITECTURE DESCRIPTION", _architecture(f)),
        ("SUMMARY METRICS", _summary(f)),
        ("VALIDATION_ERRORS", _bullets(_notes(f), "None")),
    )
    return "\n\n".join(f"==={name}===\n{body}" for name, body in sections) + "\n"
